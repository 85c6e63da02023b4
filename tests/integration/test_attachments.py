"""A complaint's files, both ways, on the real mail stack (only the clock is faked).

The customer's photo and receipt reach staff byte for byte; a program is
withheld and named with the command that fetches it; staff's return label goes
from their reply to the approval request and on to the customer's final
letter; `triaged attachment` writes the same bytes; a customer writing again
within a year is named with their earlier reference.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.policy import SMTP
from pathlib import Path

from tests.support.approval import MakeShop, Shop, gmail_quote, reply_to
from tests.support.files import exe, files_of, jpeg, pdf, sha, with_files
from tests.support.mail import body_text, parsed
from triaged.core.decision import EDIT_END, EDIT_START


def triaged(shop: Shop, *args: str, cwd: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triaged", "--config", str(shop.t.config_path),
                           *args], capture_output=True, text=True, timeout=60, check=False,
                          cwd=cwd)


def complain_with(shop: Shop, files: list[tuple[str, str, bytes]], subject: str = "Torte"
                  ) -> str:
    data = with_files(shop.customer, shop.t.support, subject,
                      "Die Torte kam zerdrückt an, Foto und Quittung anbei.", files,
                      name="Maria Schmidt")
    shop.send(shop.customer, data)
    show = triaged(shop, "list", "--json")
    assert show.returncode == 0, show.stderr
    return str(json.loads(show.stdout)[0]["reference"])


def test_photo_and_receipt_reach_staff_byte_identical_and_a_program_is_withheld(
        make_shop: MakeShop, tmp_path: Path) -> None:
    shop = make_shop()
    photo, receipt, program = jpeg(), pdf(), exe()
    reference = complain_with(shop, [("torte.jpg", "image/jpeg", photo),
                                     ("Quittung.pdf", "application/pdf", receipt),
                                     ("rechnung.exe", "application/octet-stream", program)])
    notice = shop.letter(shop.staff, "New complaint")
    carried = files_of(notice)
    assert carried["torte.jpg"] == photo
    assert carried["Quittung.pdf"] == receipt
    assert "rechnung.exe" not in carried
    text = body_text(parsed(notice))
    assert "rechnung.exe" in text
    assert "can run code" in text
    assert f"triaged attachment {reference} 3" in text

    shown = triaged(shop, "show", reference, "--json")
    assert shown.returncode == 0, shown.stderr
    files = json.loads(shown.stdout)["attachments"]
    assert [(f["n"], f["name"], f["direction"]) for f in files] == [
        (1, "torte.jpg", "in"), (2, "Quittung.pdf", "in"), (3, "rechnung.exe", "in")]
    assert files[0]["sha256"] == sha(photo)
    assert files[0]["content_type"] == "image/jpeg"
    assert files[0]["size"] == len(photo)

    written = triaged(shop, "attachment", reference, "3", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "rechnung.exe").read_bytes() == program
    again = triaged(shop, "attachment", reference, "3", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "rechnung (2).exe").read_bytes() == program  # never overwritten
    out = tmp_path / "photo.jpg"
    assert triaged(shop, "attachment", reference, "1", "--output", str(out)).returncode == 0
    assert out.read_bytes() == photo
    refused = triaged(shop, "attachment", reference, "1", "--output", str(out))
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr


def test_staff_return_label_goes_to_the_approval_request_and_the_final_letter(
        shop: Shop) -> None:
    label = pdf("Return label: DHL 00340434161094015902")
    photo = jpeg(7)
    complain_with(shop, [("torte.jpg", "image/jpeg", photo)])
    notice = shop.letter(shop.staff, "New complaint")
    reply = with_files(shop.staff, str(parsed(notice)["Reply-To"]),
                       f"Re: {parsed(notice)['Subject']}",
                       "Wir erstatten 45 Euro; bitte senden Sie die Torte mit dem "
                       f"Etikett zurück.\n\n{gmail_quote(notice)}",
                       [("Ruecksendeetikett.pdf", "application/pdf", label)])
    msg = parsed(reply)
    del msg["In-Reply-To"]
    msg["In-Reply-To"] = str(parsed(notice)["Message-ID"])
    shop.send(shop.staff, msg.as_bytes(policy=SMTP))

    request = shop.letter(shop.dana, "Approval needed")
    carried = files_of(request)
    assert carried["Ruecksendeetikett.pdf"] == label
    assert carried["torte.jpg"] == photo
    assert "Sent with it" in body_text(parsed(request))

    # Dana edits the letter: the edited version keeps the label.
    edited = "Wir erstatten Ihnen 50 Euro; das Etikett liegt bei."
    shop.send(shop.dana, reply_to(request, shop.dana, f"{EDIT_START}\n{edited}\n{EDIT_END}\n"))
    final = shop.inbox(shop.customer, 2)[1]
    assert edited in body_text(parsed(final))
    assert files_of(final) == {"Ruecksendeetikett.pdf": label}
    staff_version, dana_version = shop.events("drafted")
    assert staff_version["files"] == ["Ruecksendeetikett.pdf"]
    assert dana_version["source"] == "edit"


def test_draft_attach_from_the_console(shop: Shop, tmp_path: Path) -> None:
    reference = complain_with(shop, [])
    voucher = tmp_path / "Gutschein 20 €.pdf"
    voucher.write_bytes(pdf("Voucher 20 EUR"))
    resolution = tmp_path / "resolution.txt"
    resolution.write_text("Ein Gutschein über 20 Euro liegt bei.\n", encoding="utf-8")
    drafted = triaged(shop, "draft", reference, "--file", str(resolution),
                      "--attach", str(voucher))
    assert drafted.returncode == 0, drafted.stderr
    # The console used the real time: the test clock moves past it.
    shop.t.clock.set(datetime.now(UTC) + timedelta(minutes=1))
    shop.t.cycle()
    request = shop.letter(shop.dana, "Approval needed")
    assert files_of(request) == {"Gutschein 20 €.pdf": voucher.read_bytes()}
    approved = triaged(shop, "approve", reference)
    assert approved.returncode == 0, approved.stderr
    shop.t.clock.set(datetime.now(UTC) + timedelta(minutes=2))
    shop.t.cycle()
    final = shop.inbox(shop.customer, 2)[1]
    assert files_of(final) == {"Gutschein 20 €.pdf": voucher.read_bytes()}
    shown = json.loads(triaged(shop, "show", reference, "--json").stdout)["attachments"]
    assert [(f["n"], f["direction"]) for f in shown] == [(1, "out")]
    missing = triaged(shop, "draft", reference, "--file", str(resolution),
                      "--attach", str(tmp_path / "nope.pdf"))
    assert missing.returncode == 2
    assert "nope.pdf" in missing.stderr


def test_a_repeat_customers_notice_names_the_earlier_reference(shop: Shop) -> None:
    first = complain_with(shop, [], subject="Torte zerdrückt")
    shop.t.clock.set(shop.t.clock.now() + timedelta(days=30))
    data = with_files(shop.customer.replace("@", "+2@"), shop.t.support, "Schon wieder",
                      "Diesmal fehlt die Kerze.", [], name="Maria Schmidt")
    shop.send(shop.customer, data)
    notice = shop.letter(shop.staff, "Schon wieder")
    text = body_text(parsed(notice))
    assert "Earlier complaints from this customer in the last 12 months: 1" in text
    assert first in text
    assert "acknowledged" in text
