"""`triaged report --html` and `--json` as an operator runs them: one self-contained
file that headless Chromium draws (Korean, Japanese and Thai category names included),
the figures as JSON, and bad dates refused with the reason."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image

from tests.support.cli import Install
from tests.support.fixture_types import NewAddress

CATEGORIES = """
[[categories]]
name = "배송"
keywords = ["배송"]

[[categories]]
name = "破損"
keywords = ["破損"]

[[categories]]
name = "การจัดส่ง"
keywords = ["จัดส่ง"]
"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is missing: scripts/install-system-deps.sh installs it"
    return found


def screenshot(page: Path, png: Path) -> Image.Image:
    subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=400,1800",
                    f"--screenshot={png}", page.as_uri()],
                   check=True, capture_output=True, timeout=90)
    return Image.open(png).convert("L")


def test_the_html_report_is_one_file_chromium_draws_with_its_charts(
    install: Install, new_address: NewAddress,
) -> None:
    config = install.config(tail=CATEGORIES)
    install.cycle(config)  # first contact with the empty mailbox
    for subject, body in (("배송 문제", "배송이 늦었습니다"), ("배송", "배송 안 됨"),
                          ("破損", "商品が破損していました"),
                          ("จัดส่ง", "การจัดส่งล่าช้ามาก")):
        install.send(new_address("cust"), subject, body)
    install.cycle(config)
    today = datetime.now(ZoneInfo("Europe/Bucharest")).date().isoformat()
    page = install.dir / "report.html"

    result = install.run(config, "report", "--since", today, "--until", today, "--json",
                         "--html", str(page))

    figures = result.json()
    assert figures["received"] == 4
    assert {c["category"]: c["count"] for c in figures["by_category"]} == {
        "배송": 2, "破損": 1, "การจัดส่ง": 1}
    assert figures["first_reply_seconds"]["median"] is not None
    assert [o["state"] for o in figures["oldest_open"]] == ["acknowledged"] * 4
    html = page.read_text(encoding="utf-8")
    # Self-contained: the charts are data URIs, nothing is fetched.
    sources = re.findall(r'src="([^"]+)"', html)
    assert len(sources) == 2
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "cid:" not in html
    assert "http" not in html
    assert "배송" in html

    image = screenshot(page, install.dir / "report.png")
    # Not blank: plenty of dark ink (text, bars) on the white page, in many shades.
    histogram = image.histogram()
    dark = sum(histogram[:128])
    assert dark > 0.01 * image.width * image.height, dark
    assert sum(1 for n in histogram if n) > 50


def test_bad_dates_exit_2_with_the_reason(install: Install) -> None:
    config = install.config()
    backwards = install.run(config, "report", "--since", "2026-12-01", "--until", "2026-11-01")
    assert backwards.code == 2
    assert "--since 2026-12-01 is after --until 2026-11-01" in backwards.err
    garbled = install.run(config, "report", "--until", "last tuesday")
    assert garbled.code == 2
    assert "--until: expected a date such as 2026-11-30, got 'last tuesday'" in garbled.err
    assert "Traceback" not in backwards.err + garbled.err
    nobody = install.run(config, "report", "--send")
    assert nobody.code == 2
    assert "report.to is empty" in nobody.err
