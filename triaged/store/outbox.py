"""The outbox is the queue (STYLE-ANCHORS rules 2, 3 and 5).

A letter is rendered and enqueued in the same transaction as the change that
caused it. The sender claims due letters with a conditional update (or
`FOR UPDATE SKIP LOCKED` on PostgreSQL), so no two senders get the same letter;
a claim is a lease, and a letter whose sender died is claimed again once the
lease runs out. Failures back off exponentially until `max_attempts`, after
which the letter stays `failed` for staff to see.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, update
from sqlmodel import Session, col, select

from triaged.domain.mailbox_key import mailbox_key
from triaged.domain.records import EventKind, LetterKind, LetterState
from triaged.store.complaints import add_event
from triaged.store.db import transaction
from triaged.store.models import OutboxLetter

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
# Letters that failed together (an SMTP outage) should not all retry in the
# same second; each gets up to this fraction extra, fixed by its id.
BACKOFF_JITTER = 0.1

def enqueue(
    session: Session,
    *,
    complaint_id: int | None,
    kind: LetterKind | str,
    to_email: str,
    message_id: str,
    subject: str,
    raw: bytes,
    automatic: bool,
    now: datetime,
) -> OutboxLetter:
    """Queue a rendered letter for sending now, inside the caller's transaction.

    Logs `letter_queued` on the complaint when there is one. The letter is
    flushed, so it has an id, and a second letter with the same `message_id`
    fails here on the unique constraint.
    """
    letter = OutboxLetter(
        complaint_id=complaint_id,
        kind=str(kind),
        to_email=to_email,
        to_key=mailbox_key(to_email),
        message_id=message_id,
        subject=subject,
        raw=raw,
        automatic=automatic,
        state=LetterState.QUEUED.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(letter)
    session.flush()
    if complaint_id is not None:
        add_event(
            session,
            complaint_id,
            EventKind.LETTER_QUEUED,
            now=now,
            actor="system",
            detail=_letter_detail(letter),
        )
    return letter


def claim_due(
    target: Engine | Session, *, now: datetime, limit: int, lease: timedelta
) -> list[OutboxLetter]:
    """Claim up to `limit` letters that are due, oldest first, for `lease`.

    Due means queued with `next_attempt_at <= now`, or `sending` with an expired
    lease (its sender crashed). Claimed letters are `sending` with
    `next_attempt_at = now + lease`. Given an engine, the claim commits in its
    own transaction and the letters come back detached; given a session, the
    claim joins the caller's transaction and the letters belong to it.
    """
    if limit <= 0:
        return []
    if isinstance(target, Session):
        return _claim(target, now=now, limit=limit, lease=lease)
    with transaction(target) as session:
        return _claim(session, now=now, limit=limit, lease=lease)


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        col(OutboxLetter.state).in_((LetterState.QUEUED.value, LetterState.SENDING.value)),
        col(OutboxLetter.next_attempt_at) <= now,
    )


def _claim(session: Session, *, now: datetime, limit: int, lease: timedelta) -> list[OutboxLetter]:
    if session.get_bind().dialect.name == "postgresql":
        return _claim_skip_locked(session, now=now, limit=limit, lease=lease)
    return _claim_by_compare_and_set(session, now=now, limit=limit, lease=lease)


def _claim_skip_locked(
    session: Session, *, now: datetime, limit: int, lease: timedelta
) -> list[OutboxLetter]:
    # Rows another instance has locked are skipped, not waited for (SPEC §7).
    letters = list(
        session.exec(
            select(OutboxLetter)
            .where(*_due(now))
            .order_by(col(OutboxLetter.next_attempt_at), col(OutboxLetter.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for letter in letters:
        letter.state = LetterState.SENDING.value
        letter.next_attempt_at = now + lease
        session.add(letter)
    session.flush()
    return letters


def _claim_by_compare_and_set(
    session: Session, *, now: datetime, limit: int, lease: timedelta
) -> list[OutboxLetter]:
    # The UPDATE only matches while the row is as we read it: a claimer that got
    # there first changed its state or next_attempt_at, and rowcount comes back 0.
    candidates = session.exec(
        select(OutboxLetter.id, OutboxLetter.state, OutboxLetter.next_attempt_at)
        .where(*_due(now))
        .order_by(col(OutboxLetter.next_attempt_at), col(OutboxLetter.id))
        .limit(limit)
    ).all()
    table = OutboxLetter.metadata.tables["outbox_letter"]
    claimed: list[int] = []
    for letter_id, state, seen_at in candidates:
        result = session.connection().execute(
            update(table)
            .where(
                table.c.id == letter_id,
                table.c.state == state,
                table.c.next_attempt_at == seen_at,
            )
            .values(state=LetterState.SENDING.value, next_attempt_at=now + lease)
        )
        if result.rowcount == 1 and letter_id is not None:
            claimed.append(letter_id)
    if not claimed:
        return []
    return list(
        session.exec(
            select(OutboxLetter)
            .where(col(OutboxLetter.id).in_(claimed))
            .order_by(col(OutboxLetter.next_attempt_at), col(OutboxLetter.id))
            .execution_options(populate_existing=True)
        )
    )


def _get(session: Session, letter_id: int) -> OutboxLetter:
    letter = session.get(OutboxLetter, letter_id)
    if letter is None:
        raise LookupError(f"no outbox letter {letter_id}")
    return letter


def _letter_detail(letter: OutboxLetter) -> dict[str, object]:
    return {
        "letter_id": letter.id,
        "kind": letter.kind,
        "to": letter.to_email,
        "message_id": letter.message_id,
        "automatic": letter.automatic,
    }


def mark_sent(session: Session, letter_id: int, *, now: datetime) -> None:
    """Record that SMTP accepted the letter; logs `letter_sent`."""
    letter = _get(session, letter_id)
    letter.state = LetterState.SENT.value
    letter.sent_at = now
    letter.attempts += 1
    letter.last_error = ""
    session.add(letter)
    if letter.complaint_id is not None:
        add_event(
            session,
            letter.complaint_id,
            EventKind.LETTER_SENT,
            now=now,
            actor="system",
            detail={**_letter_detail(letter), "attempts": letter.attempts},
        )


def backoff_delay(attempts: int, letter_id: int) -> timedelta:
    """Return how long to wait after the `attempts`-th failed attempt.

    30 s, 60 s, 120 s … doubling, capped at one hour, plus up to 10 % jitter
    fixed by `letter_id` (deterministic, so tests and operators can predict it).
    """
    doubled = BACKOFF_BASE * (1 << min(max(attempts - 1, 0), 20))
    delay = min(doubled, BACKOFF_CAP)
    spread = (letter_id * 2654435761 % 1000) / 1000 * BACKOFF_JITTER
    return delay * (1 + spread)


def mark_failed(
    session: Session,
    letter_id: int,
    *,
    now: datetime,
    error: str,
    permanent: bool,
    max_attempts: int,
) -> LetterState:
    """Record a failed delivery attempt and return the letter's new state.

    A temporary failure queues the letter again after `backoff_delay` until it
    has been tried `max_attempts` times; a permanent one fails it at once.
    Logs `letter_failed` with the error and whether it will be retried.
    """
    letter = _get(session, letter_id)
    letter.attempts += 1
    letter.last_error = error
    if permanent or letter.attempts >= max_attempts:
        letter.state = LetterState.FAILED.value
        letter.next_attempt_at = now
    else:
        letter.state = LetterState.QUEUED.value
        letter.next_attempt_at = now + backoff_delay(letter.attempts, letter_id)
    session.add(letter)
    if letter.complaint_id is not None:
        add_event(
            session,
            letter.complaint_id,
            EventKind.LETTER_FAILED,
            now=now,
            actor="system",
            detail={
                **_letter_detail(letter),
                "error": error,
                "permanent": permanent,
                "attempts": letter.attempts,
                "retry_at": letter.next_attempt_at
                if letter.state == LetterState.QUEUED.value
                else None,
            },
        )
    return LetterState(letter.state)
