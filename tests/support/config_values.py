"""Config data for the loader's tests: a minimal valid config as the TOML reader gives it,
changed one dotted key at a time, and the problems the loader reports for it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from triaged.config.loading import from_mapping
from triaged.domain.errors import ConfigError

MINIMAL: dict[str, Any] = {
    "business": {"name": "Acme Bakery"},
    "mailboxes": [{"address": "support@acme.example", "host": "imap.acme.example"}],
    "smtp": {"host": "smtp.acme.example"},
    "database": {"url": "sqlite:////var/lib/triaged/triaged.db"},
}


def with_values(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of `base` with dotted keys set; `mailboxes__0__port` style for arrays.

    A value of `...` deletes the key.
    """
    data = copy.deepcopy(base)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return data


def problems_of(data: dict[str, Any], base_dir: Path = Path("/nonexistent")) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        from_mapping(data, base_dir)
    return caught.value.problems
