"""logfmt as its readers take it: key=bare or key="quoted \\" escaped", space-separated."""

from __future__ import annotations

import json
import re

LOGFMT_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"=]+)(?: |$)')


def parse_logfmt(line: str) -> dict[str, str]:
    """Every pair of `line`; fails unless the pairs make up the whole line."""
    pairs: dict[str, str] = {}
    position = 0
    while position < len(line):
        match = LOGFMT_PAIR.match(line, position)
        assert match is not None, f"not logfmt at {position}: {line!r}"
        key, value = match.groups()
        if value.startswith('"'):
            value = json.loads(value)  # the same escapes as a JSON string
        pairs[key] = value
        position = match.end()
    return pairs
