"""`triaged draft`, `approve` and `reject` from the console: the same steps as by email,
recorded as console decisions (the console script run as a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.approval import MakeShop, Shop
from tests.support.mail import body_text, parsed

RESOLUTION = "Wir erstatten Ihnen 45 Euro. <b>Nicht fett</b> {{ 7*7 }}"


def triaged(shop: Shop, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triaged", "--config", str(shop.t.config_path),
                           *args], input=stdin, capture_output=True, text=True, timeout=60,
                          check=False)


def catch_up(shop: Shop) -> None:
    """The console used the real time: move the test clock past it, then run a cycle."""
    shop.t.clock.set(datetime.now(UTC) + timedelta(minutes=1))
    shop.t.cycle()


def test_draft_from_a_file_then_approve_from_the_console(make_shop: MakeShop,
                                                        tmp_path: Path) -> None:
    shop = make_shop()
    complaint = shop.complain()
    resolution = tmp_path / "resolution.txt"
    resolution.write_text(RESOLUTION + "\n", encoding="utf-8")

    drafted = triaged(shop, "draft", complaint.reference, "--file", str(resolution))
    assert drafted.returncode == 0, drafted.stderr
    assert "version 1" in drafted.stdout
    catch_up(shop)
    request = parsed(shop.letter(shop.dana, "Approval needed"))
    assert RESOLUTION in body_text(request)
    html = request.get_body(preferencelist=("html",))
    assert html is not None
    assert "&lt;b&gt;Nicht fett&lt;/b&gt;" in str(html.get_content())
    [event] = shop.events("drafted")
    assert event["source"] == "cli"
    assert event["actor"].startswith("console")

    approved = triaged(shop, "approve", complaint.reference)
    assert approved.returncode == 0, approved.stderr
    catch_up(shop)
    assert shop.state(complaint.id) == "resolved"
    [decision] = shop.events("approved")
    assert decision["via"] == "console"
    final = parsed(shop.inbox(shop.customer, 2)[1])
    assert RESOLUTION in body_text(final)  # the template syntax is shown, never run
    assert "49" not in body_text(final)

    again = triaged(shop, "draft", complaint.reference, stdin="A voucher as well.")
    assert again.returncode == 1
    assert "refused until the customer reopens it" in again.stderr
    assert len(shop.events("drafted")) == 1


def test_draft_from_stdin_then_reject_with_a_reason(make_shop: MakeShop) -> None:
    shop = make_shop()
    complaint = shop.complain()

    assert triaged(shop, "draft", complaint.reference, stdin=RESOLUTION).returncode == 0
    rejected = triaged(shop, "reject", complaint.reference, "--reason", "zu wenig")
    assert rejected.returncode == 0, rejected.stderr
    catch_up(shop)

    assert shop.state(complaint.id) == "in_progress"
    [decision] = shop.events("rejected")
    assert (decision["reason"], decision["via"]) == ("zu wenig", "console")
    notice = shop.latest(shop.staff, "Rejected")
    assert "zu wenig" in body_text(parsed(notice))
    assert [letter.kind for letter in shop.letters_to(shop.customer)] == ["holding"]


def test_console_mistakes_are_clear_errors(make_shop: MakeShop) -> None:
    shop = make_shop()
    complaint = shop.complain()

    not_awaiting = triaged(shop, "approve", complaint.reference)
    assert not_awaiting.returncode == 1
    assert "not awaiting approval" in not_awaiting.stderr
    bad = triaged(shop, "approve", "NOT-AREF")
    assert bad.returncode == 2
    no_reason = triaged(shop, "reject", complaint.reference)
    assert no_reason.returncode == 2  # --reason is required
    empty = triaged(shop, "draft", complaint.reference, stdin="  \n")
    assert empty.returncode == 1
    assert "empty" in empty.stderr
    assert "Traceback" not in not_awaiting.stderr + bad.stderr + empty.stderr
