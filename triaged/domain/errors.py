"""Exceptions that say what the caller should do: retry later, fix the config, or give up."""

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
