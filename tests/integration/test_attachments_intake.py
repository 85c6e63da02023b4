"""A customer's files at intake, on the real mail stack: hostile and broken files are
kept or listed and the complaint is registered; a forward's files are the original
customer's; an HTML complaint's inline photo stays viewable in the notice; a message
past `max_size` is registered with its files listed as not kept."""

from __future__ import annotations

import json
import subprocess
import sys
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from tests.mailstack import MailStack
from tests.support.files import files_of, jpeg, pdf, with_files
from tests.support.fixture_types import MakeTriaged, NewAddress
from tests.support.installation import Triaged
from tests.support.intake import complaints_of, notices, staff_tail
from tests.support.mail import parsed

DATA = Path(__file__).resolve().parents[1] / "data" / "attachments"


def shown(t: Triaged, reference: str) -> list[dict[str, object]]:
    result = subprocess.run([sys.executable, "-m", "triaged", "--config", str(t.config_path),
                             "show", reference, "--json"], capture_output=True, text=True,
                            timeout=60, check=True)
    files: list[dict[str, object]] = json.loads(result.stdout)["attachments"]
    return files


def body_of(msg: EmailMessage, kind: str) -> str:
    part = msg.get_body(preferencelist=(kind,))
    assert part is not None
    return str(part.get_content())


def test_hostile_and_broken_files_are_kept_or_listed_and_the_complaint_registered(
        make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack,
        tmp_path: Path) -> None:
    team, customer = new_address("team"), new_address("maria")
    t = make_triaged(tail=staff_tail(team))
    t.cycle()
    data = (DATA / "hostile-names.eml").read_bytes().replace(b"maria@customer.example",
                                                             customer.encode())
    mailstack.append(t.support, "INBOX", data)
    assert t.cycle().tally.counts == {"complaint": 1}
    [complaint] = complaints_of(t)
    files = shown(t, complaint.reference)
    assert len(files) == 13
    assert {f["name"] for f in files} >= {"attachment-1.bin", "passwd", "a Bcc_ x@evil.example",
                                          "Käsekuchen Rückgabe.pdf", "ФотО.png"}
    [notice] = notices(mailstack, team, "New complaint", 1)
    carried = files_of(notice.as_bytes())
    assert "invoice.pdf.exe" not in carried
    assert "harmless.pdf" not in carried
    assert carried["passwd"] == b"root:x:0:0:root:/root:/bin/bash"
    assert "Bcc" not in notice
    text = body_of(notice, "plain")
    assert "invoice.pdf.exe" in text
    assert "its content is a Windows program" in text
    out = tmp_path / "out"
    out.mkdir()
    written = subprocess.run([sys.executable, "-m", "triaged", "--config", str(t.config_path),
                              "attachment", complaint.reference, "6"], cwd=out,
                             capture_output=True, text=True, timeout=60, check=False)
    assert written.returncode == 0, written.stderr
    assert [p.name for p in out.iterdir()] == ["passwd"]  # in the folder, not in /etc


def test_a_forwarded_complaints_files_belong_to_the_original_customer(
        make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack) -> None:
    team, owner, customer = new_address("team"), new_address("owner"), new_address("peter")
    t = make_triaged(tail=staff_tail(team, forwarders=(owner,)))
    t.cycle()
    photo = jpeg(3)
    original = with_files(customer, "shop@elsewhere.example", "Wrong cake delivered",
                          "I ordered a cheesecake and got a fruit tart. Photo attached.",
                          [("tart.jpg", "image/jpeg", photo)], name="Peter Novak")
    forward = EmailMessage()
    forward["From"] = owner
    forward["To"] = t.support
    forward["Subject"] = "Fwd: Wrong cake delivered"
    forward["Message-ID"] = "<fwd-1@acme.example>"
    forward.set_content("Please handle this one.")
    forward.add_attachment(parsed(original), filename="Wrong cake delivered.eml")
    mailstack.append(t.support, "INBOX", forward.as_bytes(policy=SMTP))
    t.cycle()
    [complaint] = complaints_of(t)
    assert complaint.customer_email == customer
    files = shown(t, complaint.reference)
    assert [(f["n"], f["name"], f["direction"]) for f in files] == [(1, "tart.jpg", "in")]
    [notice] = notices(mailstack, team, "New complaint", 1)
    assert files_of(notice.as_bytes()) == {"tart.jpg": photo}


def test_an_html_complaints_inline_photo_stays_viewable_in_the_notice(
        make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack) -> None:
    team, customer = new_address("team"), new_address("ana")
    t = make_triaged(tail=staff_tail(team))
    t.cycle()
    photo = jpeg(5)
    msg = EmailMessage()
    msg["From"] = customer
    msg["To"] = t.support
    msg["Subject"] = "Cake crushed"
    msg["Message-ID"] = "<html-1@customer.example>"
    msg.set_content("The cake was crushed, see the photo.")
    msg.add_alternative('<p>The cake was crushed:</p><img src="cid:photo1@client">',
                        subtype="html")
    html = msg.get_body(preferencelist=("html",))
    assert isinstance(html, EmailMessage)
    html.add_related(photo, maintype="image", subtype="jpeg", cid="<photo1@client>")
    mailstack.append(t.support, "INBOX", msg.as_bytes(policy=SMTP))
    t.cycle()
    [complaint] = complaints_of(t)
    [notice] = notices(mailstack, team, "New complaint", 1)
    inline = [p for p in notice.walk() if p.get_content_type() == "image/jpeg"]
    assert len(inline) == 1
    assert inline[0].get_payload(decode=True) == photo
    assert inline[0].get_content_disposition() == "inline"
    cid = str(inline[0]["Content-ID"]).strip("<>")
    assert f'src="cid:{cid}"' in body_of(notice, "html")
    assert complaint.reference in cid


def test_a_message_past_max_size_is_registered_with_its_files_listed_not_kept(
        make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack) -> None:
    team, customer = new_address("team"), new_address("lea")
    t = make_triaged(tail=staff_tail(team) + '\n[attachments]\nmax_size = "64 KB"\n')
    t.cycle()
    big = with_files(customer, t.support, "Huge photo", "The cake, in full resolution.",
                     [("huge.jpg", "image/jpeg", jpeg(9, 200_000)),
                      ("receipt.pdf", "application/pdf", pdf())])
    mailstack.append(t.support, "INBOX", big)
    assert t.cycle().tally.counts == {"complaint": 1}
    [complaint] = complaints_of(t)
    files = shown(t, complaint.reference)
    assert [(f["name"], f["kept"]) for f in files] == [("huge.jpg", False),
                                                       ("receipt.pdf", False)]
    assert "over [attachments] max_size (64 KB)" in str(files[0]["reason"])
    [notice] = notices(mailstack, team, "New complaint", 1)
    assert files_of(notice.as_bytes()) == {}
    assert "huge.jpg" in body_of(notice, "plain")
    assert "The cake, in full resolution." in body_of(notice, "plain")


def test_five_hundred_files_are_all_kept_and_the_notice_carries_fifty(
        make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack) -> None:
    team, customer = new_address("team"), new_address("tom")
    t = make_triaged(tail=staff_tail(team))
    t.cycle()
    many = with_files(customer, t.support, "Receipts", "All my receipts.",
                      [(f"receipt-{i}.pdf", "application/pdf", pdf(f"receipt {i}"))
                       for i in range(500)])
    mailstack.append(t.support, "INBOX", many)
    assert t.cycle().tally.counts == {"complaint": 1}
    [complaint] = complaints_of(t)
    files = shown(t, complaint.reference)
    assert len(files) == 500
    assert all(f["kept"] for f in files)
    [notice] = notices(mailstack, team, "New complaint", 1)
    assert len(files_of(notice.as_bytes())) == 50
    text = body_of(notice, "plain")
    assert "a letter carries at most 50 files" in text
    assert f"… +400: triaged show {complaint.reference}" in text
