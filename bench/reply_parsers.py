"""Report: which reader finds the new text of a staff reply, ours or mail-parser-reply.

triaged.core.reply_text.new_text keeps what the writer typed and drops the
quoted letter, signatures and phone footers. This runs it and the PyPI package
mail-parser-reply (``EmailReplyParser(languages=...)``, the newest reply's body) on the reply
shapes the tests use (tests/unit/test_reply_text.py and the replies sent in the
integration tests) and prints, per case, whether each got it right:

- right: every piece the writer typed is kept and nothing of the history,
  signature or footer is;
- exact: the result equals the expected text (only for cases that have one).

    PYTHONPATH=. .venv/bin/python -m bench.reply_parsers

mail-parser-reply is not a dependency; install it into a scratch folder, e.g.
``pip install --target /tmp/replylib mail-parser-reply`` and add that folder to
PYTHONPATH. Without it only our reader is measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.support.client_replies import (
    APPLE,
    GMAIL,
    GMAIL_HTML,
    OUTLOOK_DESKTOP,
    OUTLOOK_HTML,
    OUTLOOK_MOBILE,
    THUNDERBIRD,
)
from triaged.core.decision import EDIT_END, EDIT_START
from triaged.core.parse.html import html_to_text
from triaged.core.reply_text import new_text

REQUEST_TEXT = "To approve, reply with APPROVE"
ATTRIBUTION = "On Mon, Nov 23, 2026 at 10:00 AM Acme Bakery <support@acme.example> wrote:"


@dataclass(frozen=True)
class Case:
    name: str
    body: str
    keep: tuple[str, ...]
    drop: tuple[str, ...]
    exact: str | None = None


def _resolution(name: str, body: str, expected: str, *drop: str) -> Case:
    return Case(name, body, (expected,), drop, expected)


CASES = [
    # Approval and rejection replies, as each client quotes the request.
    Case("gmail", GMAIL, ("APPROVE",), (REQUEST_TEXT, "wrote:"), "APPROVE"),
    Case("outlook-desktop", OUTLOOK_DESKTOP, ("REJECT the refund must be 20 euros, not 15",),
         ("Sent: Monday", "We will refund the cake", EDIT_START)),
    Case("outlook-mobile", OUTLOOK_MOBILE, ("Approve",),
         ("Get Outlook for iOS", "Sent: Monday", REQUEST_TEXT), "Approve"),
    Case("apple-mail", APPLE, ("approved.",), ("Sent from my iPhone", "Approval needed"),
         "approved."),
    Case("thunderbird-bottom-post", THUNDERBIRD, ("REJECT we never promised delivery on Sunday",),
         (REQUEST_TEXT, "wrote:", "Dana"), "REJECT we never promised delivery on Sunday"),
    Case("gmail-html-only", html_to_text(GMAIL_HTML), ("APPROVE",), (REQUEST_TEXT, "wrote:")),
    Case("outlook-html-only", html_to_text(OUTLOOK_HTML), ("REJECT wrong amount",),
         (REQUEST_TEXT, "Sent:"), "REJECT wrong amount"),
    Case("apple-html-phone-footer", html_to_text(
        "<div>REJECT the refund must be 50 euros, the delivery fee too</div>"
        "<div><br>Sent from my iPhone</div><blockquote type=\"cite\">"
        "On 23 Nov 2026, at 10:00, Acme Bakery wrote:<br>APPROVE</blockquote>"),
        ("REJECT the refund must be 50 euros, the delivery fee too",),
        ("Sent from my iPhone", "wrote:"),
        "REJECT the refund must be 50 euros, the delivery fee too"),
    Case("edited-letter", f"{EDIT_START}\nDear customer, we will refund the full 20 euros.\n"
         f"{EDIT_END}\n\nThanks,\nDana\n\n{ATTRIBUTION}\n> {EDIT_START}\n> We will refund the "
         f"cake.\n> {EDIT_END}\n", ("Dear customer, we will refund the full 20 euros.",),
         ("We will refund the cake.", "wrote:")),
    Case("escalation-ack", "EXTEND 2 hours\n\nOn Monday, triaged wrote:\n> Complaint K7M-Q3X9 "
         "is due today.\n", ("EXTEND 2 hours",), ("is due today", "wrote:"), "EXTEND 2 hours"),
    Case("outlook-quote-plain", "ACK\n\nFrom: Acme Bakery <support@acme.example>\nSent: Monday, "
         "November 23, 2026 10:00 AM\nTo: dana@acme.example\nSubject: Due today [K7M-Q3X9]\n\n"
         "Complaint K7M-Q3X9 is due today.", ("ACK",), ("is due today", "Sent:"), "ACK"),
    # Staff resolutions: only the new text becomes the customer's letter.
    _resolution("signature-delimiter", "We refund 20 euros and send a new cake on Saturday.\n\n"
                "-- \nBob\nAcme Bakery\n", "We refund 20 euros and send a new cake on Saturday.",
                "Acme Bakery"),
    _resolution("closing-and-gmail-quote", "We refund 20 euros.\n\nThanks,\nBob\n\n"
                f"{ATTRIBUTION}\n> New complaint K7M-Q3X9\n> The cake was crushed.",
                "We refund 20 euros.", "crushed", "Bob"),
    _resolution("iphone-footer", "First paragraph.\n\nSecond paragraph.\n\nSent from my iPhone",
                "First paragraph.\n\nSecond paragraph.", "iPhone"),
    _resolution("gmail-de", "Wir erstatten den Betrag.\n\nAm 23.11.2026 um 10:00 schrieb Acme "
                "Bakery <support@acme.example>:\n> Neue Beschwerde", "Wir erstatten den Betrag.",
                "Neue Beschwerde", "schrieb"),
    _resolution("gmail-fr", "Nous remboursons.\n\nLe lun. 23 nov. 2026 à 10:00, Acme Bakery "
                "<support@acme.example> a écrit :\n> Nouvelle réclamation", "Nous remboursons.",
                "Nouvelle réclamation", "écrit"),
    _resolution("starts-with-on", "On Monday we will call the customer and refund them.",
                "On Monday we will call the customer and refund them."),
    _resolution("gmail-ja", "全額返金いたします。\n\n2026年11月23日(月) 10:00 Acme Bakery "
                "<support@acme.example>:\n\n> 新しい苦情を受け付けました。", "全額返金いたします。",
                "新しい苦情", "Acme"),
    _resolution("gmail-th", "คืนเงินเต็มจำนวน\n\nเมื่อ จ. 23 พ.ย. 2026 เวลา 10:00 Acme Bakery "
                "<support@acme.example> เขียนว่า:\n> มีเรื่องร้องเรียนใหม่", "คืนเงินเต็มจำนวน",
                "มีเรื่องร้องเรียนใหม่", "Acme"),
    _resolution("gmail-tl", "Ibabalik namin ang bayad.\n\nNoong Lun, Nob 23, 2026 nang 10:00 AM, "
                "sumulat si Acme Bakery <support@acme.example>:\n> Bagong reklamo",
                "Ibabalik namin ang bayad.", "Bagong reklamo", "sumulat"),
    _resolution("outlook-th", "คืนเงิน\n\nจาก: Acme Bakery <support@acme.example>\nส่ง: 23 "
                "พฤศจิกายน 2026 10:00\nถึง: team@acme.example\nเรื่อง: เรื่องร้องเรียนใหม่\n\n"
                "มีเรื่องร้องเรียนใหม่", "คืนเงิน", "Acme", "ร้องเรียน"),
    _resolution("outlook-ro", "Returnăm banii.\n\nDe la: Acme Bakery <support@acme.example>\n"
                "Trimis: luni, 23 noiembrie 2026 10:00\nCătre: team@acme.example\n"
                "Subiect: Reclamație nouă\n\nA sosit o reclamație nouă", "Returnăm banii.",
                "Acme", "reclamație"),
    _resolution("address-and-colon-in-text", "Please write to the courier at "
                "<courier@post.example>:\nthey owe us 20 euros.", "Please write to the courier "
                "at <courier@post.example>:\nthey owe us 20 euros."),
]


def _theirs() -> Callable[[str], str] | None:
    try:
        from mailparser_reply import EmailReplyParser  # type: ignore[import-not-found]
        from mailparser_reply.constants import MAIL_LANGUAGES  # type: ignore[import-not-found]
    except ImportError:
        return None
    # Every language it knows, so that it is not handicapped on de/fr/ja replies.
    parser = EmailReplyParser(languages=[lang for lang in MAIL_LANGUAGES if lang != "david"])

    def read(text: str) -> str:
        # The newest reply's `body`: its text without headers, signature or disclaimer
        # (`parse_reply` alone keeps the signature).
        replies = parser.read(text=text).replies
        return str(replies[0].body).strip() if replies else ""

    return read


def _right(case: Case, got: str) -> bool:
    return all(piece in got for piece in case.keep) and not any(p in got for p in case.drop)


def main() -> None:
    readers: dict[str, Callable[[str], str]] = {"triaged": new_text}
    theirs = _theirs()
    if theirs is None:
        print("mail-parser-reply is not importable: only triaged's reader is measured "
              "(pip install --target DIR mail-parser-reply; add DIR to PYTHONPATH)\n")
    else:
        readers["mail-parser-reply"] = theirs
    right = dict.fromkeys(readers, 0)
    exact = dict.fromkeys(readers, 0)
    print(f"{'case':28}" + "".join(f"{name:>20}" for name in readers))
    for case in CASES:
        cells = []
        for name, read in readers.items():
            got = read(case.body)
            ok = _right(case, got)
            same = case.exact is not None and got == case.exact
            right[name] += ok
            exact[name] += same
            cells.append(("right" if ok else "WRONG") + (" exact" if same else ""))
        print(f"{case.name:28}" + "".join(f"{cell:>20}" for cell in cells))
    with_exact = sum(case.exact is not None for case in CASES)
    print(f"\n{'right':28}" + "".join(f"{f'{right[n]}/{len(CASES)}':>20}" for n in readers))
    print(f"{'exact':28}" + "".join(f"{f'{exact[n]}/{with_exact}':>20}" for n in readers))


if __name__ == "__main__":
    main()
