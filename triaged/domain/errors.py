"""Exceptions that say what the caller should do (STYLE-ANCHORS rule 4)."""

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
    """No complaint has that reference (or its check character is wrong)."""


class ApprovalRefused(TriagedError):
    """A draft, decision or reply that does not count; `reason` says why, for its author."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


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
