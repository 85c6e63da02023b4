"""Report: which reader understands a bounce, triaged.core.parse.bounces or flufl.bounce.

Mailman's flufl.bounce runs 17 detectors (RFC 3464, Exim, Postfix, qmail,
Exchange, Yahoo, ...) and returns the addresses that failed, permanently or
temporarily. triaged.core.parse.bounces returns those too, and the Message-ID of the
letter that bounced, which is what links a bounce to our letter in the outbox.
This runs both on the bounce fixtures of the tests (tests/data/bounces, the
DSN among tests/data/mime) and on every delivery report of the shared corpus
when it is there (tests/shared_corpus.py), and prints per message: the failed
addresses each finds (P permanent, T temporary), whether each finds the
returned Message-ID, and, where the tests know the answer, whether it is right.

    PYTHONPATH=. .venv/bin/python -m bench.bounce_parsers

flufl.bounce is not a dependency; install it into a scratch folder, e.g.
``pip install --target /tmp/bouncelib flufl.bounce`` and add that folder to
PYTHONPATH. Without it only our reader is measured.
"""

from __future__ import annotations

import email
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from pathlib import Path

from tests.hostile_mime import MIME
from tests.shared_corpus import CORPUS, FILES
from triaged.core.parse.bounces import read_bounce
from triaged.core.parse.message import parse_message
from triaged.domain.errors import QuarantineError

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "bounces"
LETTER = "<123.456.triaged@acme.example>"
CUSTOMER = "emily.carter@customer.example"

# What the tests (tests/unit/test_bounces.py) hold each bounce to say: the failed
# address, and the Message-ID of the returned letter.
KNOWN: dict[str, tuple[str, str]] = {
    "rfc3464-postfix.eml": (CUSTOMER, LETTER),
    "exim-text.eml": (CUSTOMER, LETTER),
    "qmail-text.eml": (CUSTOMER, LETTER),
    "exchange-ndr.eml": (CUSTOMER, LETTER),
    "gmail-delay.eml": (CUSTOMER, LETTER),
    "dsn-delivery-status.eml": ("gone@customer.example", "<unrelated@elsewhere.example>"),
    "flanker__bounce__zed.eml": (
        "asdfasdfasdfasdfasdfasdfewrqertrtyrthsfgdfgadfqeadvxzvz@gmail.com",
        "<20090708054735.GC7578@example.com>"),
    "flanker__bounce__office365.eml": ("noname@example.com",
                                       "<20171013111011.20866.254C2F3A4D7AA526@ninomail.com>"),
    "flanker__bounce__gmail-invalid-address.eml": (
        "awfawfawfawfawfaw@someserverhere.com",
        "<CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com>"),
    "flanker__bounce__mailbox-full.eml": ("user@aol.com", "<4E326A95.3010907@example.com>"),
    "flanker__bounce__no-mx.eml": ("user@example.com", "<19E44CA63F984902B7D654F8FF40F89D@bo>"),
    "mimekit__messages__bounce.eml": (
        "netec.test@netecgc.com",
        "<44565655.JitbitHelpdesk.13439.691a0afc-a0a0-457c-8208-f20b7c4a4cb1@jitbit.com>"),
    "mimekit__messages__delivery-status.eml": ("newsletter-request@imusic.com",
                                               "<31FC7EB4.41C6@netscape.com>"),
}


@dataclass(frozen=True)
class Found:
    permanent: frozenset[str]
    temporary: frozenset[str]
    returned_ids: frozenset[str] = frozenset()
    error: str = ""

    def cell(self) -> str:
        if self.error:
            return f"error: {self.error}"
        parts = [f"P {a}" for a in sorted(self.permanent)]
        parts += [f"T {a}" for a in sorted(self.temporary)]
        return ", ".join(parts) or "-"


def ours(data: bytes) -> Found:
    try:
        bounce = read_bounce(data, parse_message(data))
    except QuarantineError as error:
        return Found(frozenset(), frozenset(), error=f"quarantined ({error.reason[:40]})")
    if bounce is None:
        return Found(frozenset(), frozenset())
    emails = frozenset(r.email.lower() for r in bounce.recipients)
    hard = emails if bounce.hard else frozenset()
    return Found(hard, emails - hard, frozenset(bounce.returned_ids))


def _flufl() -> Callable[[bytes], Found] | None:
    try:
        from flufl.bounce import all_failures  # type: ignore[import-not-found]
    except ImportError:
        return None

    def read(data: bytes) -> Found:
        message = email.message_from_bytes(data, policy=policy.compat32)
        try:
            temporary, permanent = all_failures(message)
        except Exception as error:  # noqa: BLE001 - a detector's crash is a result here
            return Found(frozenset(), frozenset(), error=type(error).__name__)
        # It returns addresses only: the returned letter's Message-ID is not read.
        return Found(frozenset(a.decode(errors="replace").lower() for a in permanent),
                     frozenset(a.decode(errors="replace").lower() for a in temporary))

    return read


def messages() -> list[tuple[str, bytes]]:
    found = []
    for path in sorted(DATA.glob("*.eml")):
        data = path.read_bytes().replace(b"LETTER-ID", LETTER.encode())
        found.append((path.name, data.replace(b"CUSTOMER", CUSTOMER.encode())))
    found.append(("dsn-delivery-status.eml", (MIME / "dsn-delivery-status.eml").read_bytes()))
    for path in FILES:
        data = path.read_bytes()
        tags = _tags().get(path.name, set())
        if "bounce" in tags or ("multipart-report" in tags and b"delivery-status" in data):
            found.append((path.name, data))
    return found


def _tags() -> dict[str, set[str]]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        return {}
    tags = {}
    for line in manifest.read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) > 4:
            tags[fields[0]] = set(fields[4].split())
    return tags


def main() -> None:
    readers: dict[str, Callable[[bytes], Found]] = {"triaged": ours}
    flufl = _flufl()
    if flufl is None:
        print("flufl.bounce is not importable: only triaged's reader is measured "
              "(pip install --target DIR flufl.bounce; add DIR to PYTHONPATH)\n")
    else:
        readers["flufl.bounce"] = flufl
    if not FILES:
        print(f"shared corpus absent ({CORPUS}): only the project's own bounces are read\n")
    found_any = dict.fromkeys(readers, 0)
    right = dict.fromkeys(readers, 0)
    with_id = dict.fromkeys(readers, 0)
    cases = messages()
    for name, data in cases:
        print(name)
        known = KNOWN.get(name)
        for reader, read in readers.items():
            result = read(data)
            failed = result.permanent | result.temporary
            found_any[reader] += bool(failed)
            verdict = ""
            if known is not None:
                ok = failed == {known[0].lower()}
                right[reader] += ok
                verdict = "right" if ok else "WRONG"
            has_id = known[1] in result.returned_ids if known else bool(result.returned_ids)
            with_id[reader] += has_id
            print(f"    {reader:13} {verdict:6} id {'yes' if has_id else 'no ':4}{result.cell()}")
    known_count = sum(name in KNOWN for name, _ in cases)
    print(f"\n{len(cases)} delivery reports, {known_count} with a known answer")
    print(f"{'':28}" + "".join(f"{name:>16}" for name in readers))
    rows = [("finds a failed address", found_any, len(cases)),
            ("right address (known)", right, known_count),
            ("finds the returned ID", with_id, len(cases))]
    for label, counts, total in rows:
        print(f"{label:28}" + "".join(f"{f'{counts[n]}/{total}':>16}" for n in readers))


if __name__ == "__main__":
    main()
