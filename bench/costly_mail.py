"""Benchmark: seconds to read each costly message, against an ordinary one in the same run.

Every case of `tests/security/costly_inputs.py` goes through the per-message
path that intake and the reply router run, without the database or the mail
servers: MIME parse, forward attribution, classification, reply tokens,
Authentication-Results, bounce reading, references, category and priority
keywords, language detection, and, as if it were a manager's or staff
member's reply, the decision and command readers. Each case runs in a
child process with a time limit, so a case that has gone quadratic is
reported as ">LIMIT" instead of stopping the run.

    .venv/bin/python -m bench.costly_mail [--limit 30] [--repeat 3] [--only SUBSTRING]

Prints one line per case: the best of `--repeat` runs in seconds, and that
time as a multiple of the ordinary message's.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import time
from collections.abc import Callable

from tests.security.costly_inputs import CASES, message
from triaged.config.records import CategoryRule, PriorityRule
from triaged.core.categories import sort_complaint
from triaged.core.classify import ClassifyContext, classify
from triaged.core.decision import looks_like_decision, parse_decision
from triaged.core.language import detect_language
from triaged.core.parse import forwarded
from triaged.core.parse.bounces import looks_like_bounce, read_bounce
from triaged.core.parse.message import parse_message
from triaged.core.references import find_in_text
from triaged.domain.errors import ApprovalRefused
from triaged.replies import authresults
from triaged.replies.carriers import find_tokens
from triaged.usecases.escalation_replies import find_command

SENDER = "jane@example.org"
SUPPORT = "support@acme.example"
OWN = frozenset({SUPPORT})
CATEGORIES = (
    CategoryRule("delivery", ("late", "not arrived", "delivery*", "courier")),
    CategoryRule("damage", ("crushed", "broken", "damaged", "kaputt")),
    CategoryRule("billing", ("refund*", "charged twice", "invoice")),
)
PRIORITIES = (PriorityRule("urgent", ("urgent", "lawyer", "asap"), ("@vip.example",)),)
LANGUAGES = frozenset({"en", "de", "fr", "es", "ja", "ko", "th"})


def read(data: bytes) -> None:
    """What intake and the reply router do with one message's bytes, minus storage."""
    mail = parse_message(data)
    forward = forwarded.attribute(mail, forwarded.ForwardContext(own_addresses=OWN))
    view = forward.applied_to(mail) if isinstance(forward, forwarded.Attribution) else mail
    classify(view, ClassifyContext(own_addresses=OWN))
    find_tokens(mail, OWN)
    auth_headers = [v for k, v in mail.headers if k.lower() == "authentication-results"]
    authresults.check(auth_headers, "mx.acme.example", mail.sender.email)
    # A message is a complaint or a reply, never both; reading it as both is
    # the conservative sum. A manager's reply: is it a decision, and which?
    looks_like_decision(mail.text)
    with contextlib.suppress(ApprovalRefused):
        parse_decision(mail.text)
    find_command(mail.text, mail.subject)
    if looks_like_bounce(mail):
        read_bounce(data, mail)
    find_in_text(mail.subject)
    sort_complaint(subject=view.subject, text=view.text, sender=view.sender.email,
                   categories=CATEGORIES, priorities=PRIORITIES)
    detect_language(view, default="en", available=LANGUAGES)


def _best_of_case(index: int, repeat: int) -> float:
    return _best(CASES[index].build, repeat)


def _best(build: Callable[[str, str], bytes], repeat: int) -> float:
    data = build(SENDER, SUPPORT)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        read(data)
        times.append(time.perf_counter() - start)
    return min(times)


def _timed(index: int, repeat: int, limit: float) -> float | None:
    """Seconds for case `index` in a child process, None when it ran past `limit`."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        pending = pool.apply_async(_best_of_case, (index, repeat))
        try:
            return float(pending.get(timeout=limit))
        except multiprocessing.TimeoutError:
            pool.terminate()
            return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=30.0, help="seconds allowed per case")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="run only cases whose name has this")
    args = parser.parse_args()
    read(message(SENDER, SUPPORT))  # the language model loads once, outside the timings
    ordinary = _best(lambda s, t: message(s, t), max(args.repeat, 5))
    print(f"{'ordinary message':55} {ordinary:8.4f} s        1x")
    worst = ("", 0.0)
    for index, case in enumerate(CASES):
        if args.only and args.only not in case.name:
            continue
        seconds = _timed(index, args.repeat, args.limit)
        if seconds is None:
            print(f"{case.name:55} {'>' + str(args.limit):>8} s", flush=True)
            worst = (case.name, float("inf"))
            continue
        print(f"{case.name:55} {seconds:8.4f} s {seconds / ordinary:8.0f}x", flush=True)
        if seconds > worst[1]:
            worst = (case.name, seconds)
    print(f"worst: {worst[0]} ({worst[1]:.3f} s)")


if __name__ == "__main__":
    main()
