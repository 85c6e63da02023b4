"""Regular expressions for outside text that more than one reader needs.

Each runs in time linear in the text it searches: a pattern that may fail
after a long run of characters starts only where such a run begins, so no
run is scanned again from each of its positions.
"""

from __future__ import annotations

_LOCAL = r"A-Za-z0-9.!#$%&'*+/=?^_`{|}~-"

# An email address as mail clients write it in text (`a.b+c@example.org`).
# The lookbehind starts a try only at the first character of a local part:
# without it, a 200 000-character word with no "@" is rescanned from each of
# its positions (quadratic).
ADDRESS = rf"(?<![{_LOCAL}])[{_LOCAL}]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
