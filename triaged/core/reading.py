"""Reading a message: the pure, CPU-bound part of intake, done before any transaction.

`read(data, rules)` turns raw bytes into everything intake needs that costs
CPU and needs no database: the parsed mail, the forward's attribution, and,
for the view intake judges (the original customer's, for a forward), the
answer language and the sorting. It does no I/O, so it can run in a worker
process that is stopped when it overruns its budget (`usecases.reader`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from triaged.config.records import CategoryRule, PriorityRule
from triaged.core.categories import Sorting, sort_complaint
from triaged.core.language import detect_language
from triaged.core.parse import forwarded
from triaged.core.parse.forwarded import Attribution, ForwardContext, PassedOn, Unattributed
from triaged.core.parse.message import parse_message
from triaged.domain.errors import QuarantineError
from triaged.domain.records import ParsedMail


@dataclass(frozen=True)
class ReadingRules:
    """What reading needs from the config: all of it plain data, sent to the worker once."""

    forwards: ForwardContext
    default_language: str
    languages: frozenset[str]
    categories: tuple[CategoryRule, ...] = ()
    priorities: tuple[PriorityRule, ...] = ()


@dataclass(frozen=True)
class Reading:
    """A message as read; `refused` (and no mail) when it cannot be, with the reason."""

    mail: ParsedMail | None = None
    forward: Attribution | Unattributed | PassedOn | None = None
    language: str = ""
    sorting: Sorting = field(default_factory=Sorting)
    refused: str = ""

    @property
    def view(self) -> ParsedMail:
        """The mail as intake judges it: a forward as its original customer wrote it."""
        assert self.mail is not None
        if isinstance(self.forward, Attribution):
            return self.forward.applied_to(self.mail)
        return self.mail


def read(data: bytes, rules: ReadingRules) -> Reading:
    """Read `data`; a message that cannot be parsed comes back refused with its reason."""
    try:
        mail = parse_message(data)
    except QuarantineError as error:
        return Reading(refused=error.reason)
    forward = forwarded.attribute(mail, rules.forwards)
    view = forward.applied_to(mail) if isinstance(forward, Attribution) else mail
    language = detect_language(view, default=rules.default_language,
                               available=rules.languages)
    sorting = sort_complaint(subject=view.subject, text=view.text, sender=view.sender.email,
                             categories=rules.categories, priorities=rules.priorities)
    return Reading(mail, forward, language, sorting)
