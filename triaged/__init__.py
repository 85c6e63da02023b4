"""triaged: a complaint-triage daemon for small businesses."""

__version__ = "0.1.0"
