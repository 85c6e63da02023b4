"""Where the optional corpus of real-world mail is, and how the tests that need it skip.

The corpus, messages written by others, is not part of the repository: it sits beside
the checkout in the folder `shared/corpus`, or wherever `TRIAGED_CORPUS` names. This is
the one place that names its location. Without it, its tests skip with `ABSENT` at the
start of their reason; scripts/test.sh counts those skips so that a run without the
corpus never reads as a full pass. The project's own hostile-mail fixtures
(tests/data/mime) run either way.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CORPUS = Path(
    os.environ.get("TRIAGED_CORPUS")
    or Path(__file__).resolve().parents[2] / "shared" / "corpus"
)
ABSENT = "shared corpus absent"
REASON = f"{ABSENT}: no .eml files in {CORPUS} (set TRIAGED_CORPUS to its folder)"
FILES = sorted(CORPUS.glob("*.eml"))

# For a module or test that cannot run without the corpus.
needs_corpus = pytest.mark.skipif(not FILES, reason=REASON)


def corpus_file(name: str) -> Path:
    """The corpus file `name`; skips the calling test when it is not there."""
    path = CORPUS / name
    if not path.exists():
        pytest.skip(REASON)
    return path
