"""The password inside a database URL: hidden in reprs and logs, known to the log filter.

Plain `urllib` parsing, so the configuration records (which every layer reads)
need no database library: `scheme://user:password@host/db`, the password
percent-decoded as SQLAlchemy reads it, shown as `***` as SQLAlchemy shows it.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit


def url_password(url: str) -> str:
    """The password inside a database URL ("" when none), for log redaction only."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return ""
    return unquote(password) if password else ""


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, for reprs and logs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparsable URL>"
    if password is None:
        return url
    user_at_host = parts.netloc.rpartition("@")
    user = user_at_host[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{user_at_host[2]}"))
