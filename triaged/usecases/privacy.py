"""A customer's rights over their data: erasure (`forget`), access (`export --customer`),
and retention (anonymise what ended longer ago than `[privacy] retention`).

A customer is a mailbox (`mailbox_key`): `Maria@Example.test`, `maria+shop@…` and
`"Maria" <maria@example.test>` are one customer. The business's own addresses
(staff, forwarders, managers, support mailboxes) are never customers.

`forget` erases in one transaction: everything of theirs or nothing. Retention
erases one customer at a time, each in a transaction of its own, so a stop in
the middle leaves every customer either erased or untouched. What an erasure
keeps and blanks is `store/personal.py`'s to say.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from sqlalchemy.engine import Engine

from triaged.config.records import Config
from triaged.core.mailbox_syntax import is_one_mailbox
from triaged.domain.clock import Clock
from triaged.domain.events import Event
from triaged.domain.mailbox_key import mailbox_key
from triaged.domain.records import EventKind
from triaged.store import personal
from triaged.store.db import write_transaction
from triaged.store.journal import Journal

log = logging.getLogger("triaged.privacy")


class NotACustomer(ValueError):
    """The address given is no address, or one of the business's own."""


@dataclass
class Erasure:
    """What one erasure changed: rows per table, and letters cancelled before sending."""

    key: str
    counts: dict[str, int] = field(default_factory=dict)


class Privacy:
    def __init__(self, engine: Engine, clock: Clock, config: Config) -> None:
        self.engine = engine
        self.clock = clock
        self.config = config
        self.dotless = config.limits.dotless_domains
        self._own = frozenset(mailbox_key(a, self.dotless) for a in config.own_addresses())
        self._last_run = -float("inf")

    def customer_key(self, address: str) -> str:
        """The mailbox key of `address` (a bare address or `Name <address>`, any case).

        Raises NotACustomer for what is not one mailbox, or is the business's own.
        """
        email = parseaddr(address.strip())[1].strip()
        if not is_one_mailbox(email):
            raise NotACustomer(f"{address.strip()!r} is not an email address")
        key = mailbox_key(email, self.dotless)
        if key in self._own:
            raise NotACustomer(f"{email} is one of the business's own addresses (staff, "
                               "managers, forwarders or a support mailbox), not a customer")
        return key

    def scope(self, key: str) -> personal.Scope:
        """What is stored of the customer `key` (read only)."""
        with write_transaction(self.engine) as conn:
            return personal.customer_scope(conn, key, self.dotless)

    def forget(self, key: str, *, actor: str) -> Erasure | None:
        """Erase every complaint, message, letter and trace of the customer `key`, in one
        transaction; None (nothing changed) when nothing of theirs is stored."""
        with write_transaction(self.engine) as conn:
            scope = personal.customer_scope(conn, key, self.dotless)
            if scope.empty:
                return None
            erasure = self._erase(conn, scope, actor=actor, why="forget")
        personal.flush_freed(self.engine)
        return erasure

    def _erase(self, conn: Any, scope: personal.Scope, *, actor: str, why: str) -> Erasure:
        now = self.clock.now()
        counts = personal.erase(conn, scope, now=now, own=self._own, dotless=self.dotless)
        # One event per complaint, and one for messages of theirs outside any complaint:
        # who asked and why, nothing about the customer.
        with Journal(conn) as journal:
            journal.record(*(Event(cid, EventKind.ERASED, now, actor, detail={"by": why})
                             for cid in scope.complaint_ids))
            if not scope.complaint_ids:
                journal.record(Event(None, EventKind.ERASED, now, actor,
                                     detail={"by": why, "messages": len(scope.message_ids)}))
        return Erasure(scope.key, counts)

    # ---- retention ------------------------------------------------------------

    def run_retention(self, *, at_most_every: float = 0.0) -> int:
        """Anonymise what ended longer ago than `[privacy] retention`; return how many
        customers were erased. One transaction per customer."""
        retention = self.config.privacy.retention
        if retention is None or time.monotonic() - self._last_run < at_most_every:
            return 0
        self._last_run = time.monotonic()
        before = self.clock.now() - retention
        with write_transaction(self.engine) as conn:
            due: dict[str, list[int]] = defaultdict(list)
            for cid, email in personal.final_complaints_before(conn, before):
                due[mailbox_key(email, self.dotless)].append(cid)
            for sender in personal.orphan_senders_before(conn, before):
                due.setdefault(mailbox_key(sender, self.dotless), [])
        erased = 0
        for key, complaint_ids in due.items():
            if key in self._own:
                # Staff and managers' own mail outside complaints is the business's.
                continue
            with write_transaction(self.engine) as conn:
                scope = personal.complaints_scope(conn, key, complaint_ids, before,
                                                  self.dotless)
                if scope.empty:
                    continue
                self._erase(conn, scope, actor="system", why="retention")
            erased += 1
        if erased:
            personal.flush_freed(self.engine)
            log.info("retention: personal data of %d customer(s) older than %s erased",
                     erased, self.config.privacy.retention)
        return erased

    # ---- access ---------------------------------------------------------------

    def export(self, key: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every stored row of the customer `key`, as (table, row)."""
        with write_transaction(self.engine) as conn:
            scope = personal.customer_scope(conn, key, self.dotless)
            yield from personal.export_scope(conn, scope)
