"""The moves a complaint may make from state to state, and the check that holds the store to them.

Every state change the store writes goes through `check_move`; a move not in
`ALLOWED_MOVES` is refused with `ForbiddenMove` before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping

from triaged.domain.errors import ForbiddenMove
from triaged.domain.records import ComplaintState

_S = ComplaintState

ALLOWED_MOVES: Mapping[ComplaintState, frozenset[ComplaintState]] = {
    _S.RECEIVED: frozenset({
        # SMTP accepted the holding reply: the customer knows we have it.
        _S.ACKNOWLEDGED,
        # Staff drafted a resolution before a holding reply was sent, or where
        # none is sent (a mailbox's first contact with start = "all" registers
        # what it finds silently).
        _S.IN_PROGRESS,
    }),
    _S.ACKNOWLEDGED: frozenset({
        # Staff drafted a resolution.
        _S.IN_PROGRESS,
    }),
    _S.IN_PROGRESS: frozenset({
        # A draft went to the managers for approval.
        _S.AWAITING_APPROVAL,
    }),
    _S.AWAITING_APPROVAL: frozenset({
        # A manager approved: the final letter is queued.
        _S.RESOLVED,
        # A manager rejected the draft: staff write another.
        _S.IN_PROGRESS,
    }),
    _S.RESOLVED: frozenset({
        # The customer said it is settled, or stayed quiet for `close_after`.
        _S.CLOSED,
        # The customer wrote back about the answer: the complaint reopens.
        _S.IN_PROGRESS,
    }),
    _S.CLOSED: frozenset({
        # The customer wrote again on a closed complaint: it reopens.
        _S.IN_PROGRESS,
    }),
}


def may_move(old: ComplaintState, new: ComplaintState) -> bool:
    """Whether a complaint in `old` may go to `new`."""
    return new in ALLOWED_MOVES.get(old, frozenset())


def check_move(complaint: str, old: ComplaintState, new: ComplaintState) -> None:
    """Raise `ForbiddenMove` unless a complaint in `old` may go to `new`.

    `complaint` names it in the message (its reference, or its id when that is
    all the caller holds).
    """
    if not may_move(old, new):
        allowed = sorted(s.value for s in ALLOWED_MOVES.get(old, frozenset()))
        raise ForbiddenMove(complaint, old.value, new.value, allowed)
