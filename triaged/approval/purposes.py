"""The reply purposes triaged understands: the one list intake routes tokens by.

Each entry is a `routing.Purpose`; add yours here (see `routing`'s docstring).
"""

from __future__ import annotations

from collections.abc import Sequence

from triaged import escalation_replies
from triaged.approval.routing import Purpose, Registry
from triaged.config import Config


def managers(config: Config) -> Sequence[str]:
    """Every configured manager's address: who may answer approval requests."""
    return [m.email for m in config.managers]


def staff(config: Config) -> Sequence[str]:
    """`staff.notify`: who may reply to a new-complaint notification with a draft."""
    return list(config.staff.notify)


def default_registry() -> Registry:
    registry = Registry()
    registry.add(Purpose(escalation_replies.PURPOSE, senders=managers,
                         handle=escalation_replies.handle))
    return registry
