"""Imported by the reading workers' fork server only: importing it warms reading up.

What the server holds when it forks a worker is shared by every worker, as long
as none writes to it: the modules reading needs, the language model's
identifier (its tables are mapped; it builds a few MB of its own from them) and
what a first reading leaves behind (compiled patterns, the parsers' tables).
A worker then pays only for what its own readings write.
"""

from __future__ import annotations

import contextlib

from triaged.core.parse.forwarded import ForwardContext
from triaged.core.reading import ReadingRules, read
from triaged.usecases.reading_process import WARM_UP

# Should it fail, each worker warms up on its own, and reports what fails.
with contextlib.suppress(Exception):
    read(WARM_UP, ReadingRules(ForwardContext(), "en", frozenset({"en"})))
