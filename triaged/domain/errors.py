"""Every error triaged raises on purpose: one tree under `TriagedError`.

Each message is written for whoever must act on it (the operator at the
console, staff, or the manager who replied) and says what to do, so a caller
shows `str(error)` as it is. What is not a `TriagedError` is a bug or a
library's failure, reported with its type.
"""

from __future__ import annotations


class TriagedError(Exception):
    """Base of every error triaged raises on purpose."""


class ConfigError(TriagedError):
    """The configuration is unusable: refuse to start, list every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class TransientError(TriagedError):
    """Try again later with back-off: the server is away or said 4xx."""


class PermanentError(TriagedError):
    """Stop trying and tell staff: the server refused for good (5xx)."""


class QuarantineError(TriagedError):
    """This message cannot be processed; park it with the reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class UnknownReference(TriagedError):
    """A well-formed reference that no complaint has (a mistyped one is refused earlier)."""

    def __init__(self, reference: str) -> None:
        self.reference = reference
        super().__init__(f"no complaint {reference}: check the reference; `triaged list` "
                         "shows every complaint")


class ApprovalRefused(TriagedError):
    """A draft, decision, reply or command that does not count; `reason` says why, for its author.

    Nothing was changed: the author may correct it and send it again.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class SchemaMismatch(TriagedError):
    """The database's schema is not the one this version of triaged works with.

    The message says what the operator should do; `ahead` tells a database
    made by a newer triaged (nothing to do here but upgrade triaged or restore
    a matching backup) from one that is merely behind (`triaged migrate`).
    """

    def __init__(self, message: str, *, ahead: bool) -> None:
        self.ahead = ahead
        super().__init__(message)


class BackupError(TriagedError):
    """The backup cannot be made; the message says why and what to do instead."""


class ExportError(TriagedError):
    """The export cannot be written or the file cannot be imported; the message says why."""


class TemplateFailure(TriagedError):
    """Letters that do not render: each kind with its reason, for one row of `triaged check`."""
class ForbiddenMove(TriagedError):
    """A complaint was asked to change state in a way its lifecycle does not allow.

    Nothing was written. Triaged itself never asks for such a move, so it points
    at a bug or at a database edited by hand: the message says where to look.
    """

    def __init__(self, complaint: str, old: str, new: str, allowed: list[str]) -> None:
        self.complaint, self.old, self.new = complaint, old, new
        onward = ", ".join(allowed) or "nowhere"
        super().__init__(
            f"complaint {complaint}: cannot go from {old} to {new} (from {old} it may go to "
            f"{onward}); nothing was changed. Check its history with `triaged show` and "
            "report this with the log lines around it")
