"""HTML mail to readable text for staff and for classification."""

from __future__ import annotations

import html as htmllib
import re

import html2text

_TAG = re.compile(r"<[^>]*>")
_BLOCK_END = re.compile(r"</(?:p|div|tr|li|h[1-6]|table)\s*>|<br\s*/?>", re.IGNORECASE)
_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BLANK_LINES = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def html_to_text(markup: str) -> str:
    """Return the text a reader sees in `markup`, links kept as `[text](url)`.

    Images and emphasis marks are dropped; lines are not re-wrapped. Never
    raises: if html2text fails on broken markup, tags are stripped instead.
    """
    converter = html2text.HTML2Text(bodywidth=0)
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    converter.skip_internal_links = True
    # html2text has no error contract; any failure falls back to stripping tags.
    try:
        text = converter.handle(markup)
    except Exception:  # noqa: BLE001 - see above: any failure means "strip the tags"
        text = _strip_tags(markup)
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def _strip_tags(markup: str) -> str:
    without_hidden = _HIDDEN.sub("", markup)
    with_breaks = _BLOCK_END.sub("\n", without_hidden)
    return htmllib.unescape(_TAG.sub("", with_breaks))
