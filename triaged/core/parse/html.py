"""HTML mail to readable text for staff and for classification, in linear time.

Any sender can send HTML, so the cost of reading it must grow with its size
and nothing else. The tokenizer here is our own: every step either consumes
the characters it looked at or, when a construct is never closed (a comment
without `-->`, a tag or quoted attribute without its end), consumes the rest
of the input, as HTML5 does at end of file. The writer keeps a bounded amount
of state per open element (list and quote prefixes stop growing at
`_MAX_PREFIX_DEPTH`), so output is at most a constant times the input.

Measured on a 2-core machine under other load (Python 3.11; best of 3-5 runs,
in seconds; html2text 2025.4.15 with the options used before):

    input                                   html2text    here
    "<ol><li>" * 4000 (32 KB)                 103         0.12
    "<ul><li>" * 8000 (64 KB)                 364         0.15
    "<ul><li>" * 90000 (720 KB)               >600        0.28 (output cut at 200 000)
    "<a x='" * 20000 (120 KB)                 >120 (*)    0.02
    "<!--" * 40000 (160 KB)                   >18 (*)     0.0001
    "<br>" * 200000 (800 KB)                  -           1.1 (a tag per 4 bytes: the worst)
    ordinary 4.7 KB Outlook-style mail        0.012       0.001

(*) the stdlib `html.parser`, under html2text, alone; Python 3.11's parser
rescans the rest of the input after each unfinished construct. Ordinary mail
reads much as html2text wrote it: links as `[text](url)`, list items as `* ` or
`1. `, blockquotes as `> ` lines (the reply parser relies on those), `<hr>`
as `* * *`, paragraphs separated by a blank line.
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass, field

# Elements whose content is not text a reader sees.
_HIDDEN = frozenset({"script", "style", "head", "title", "template"})
# Elements whose content is raw text: no tags inside until their own end tag.
_RAW_TEXT = frozenset({"script", "style", "title", "textarea", "xmp", "iframe", "noembed",
                       "noframes", "template"})
# Elements that may stand in <head>; anything else there means the body began.
_HEAD_CONTENT = frozenset({"meta", "link", "title", "style", "script", "base", "noscript",
                           "template"})
_PARAGRAPHS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
                         "dl", "pre", "blockquote", "form", "fieldset", "address", "section",
                         "article", "header", "footer", "nav", "aside", "main", "figure",
                         "center", "body", "html"})
_LINES = frozenset({"tr", "li", "dt", "dd", "caption", "figcaption", "summary", "details"})
_CELLS = frozenset({"td", "th"})
# Beyond this depth nested lists and quotes are not indented further.
_MAX_PREFIX_DEPTH = 8

# Text up to the next "<", or a whole tag without quotes: one match per token. The name
# and the attributes are possessive: both accept letters, and letting a failed match
# try every split of a long unclosed name between them cost time quadratic in its length.
_TOKEN = re.compile(r"([^<]+)|<(/?)([A-Za-z][^\t\n\f\r />]*+)([^<>\"']*+)>")
_NAME = re.compile(r"[A-Za-z][^\t\n\f\r />]*")
# Inside a tag with quotes: the next quote or its end.
_TAG_STOP = re.compile(r"[\"'>]")
_HREF = re.compile(
    r"(?<![^\t\n\f\r /])href[\t\n\f\r ]*=[\t\n\f\r ]*(\"[^\"]*\"|'[^']*'|[^\t\n\f\r >]+)",
    re.IGNORECASE,
)
_WHITESPACE = re.compile(r"[\t\n\f\r ]+")
# A numeric reference of eight or more digits is past U+10FFFF (or has leading
# zeros no mailer writes); `html.unescape` would raise on more than 4300 digits.
_HUGE_CHARREF = re.compile(r"&#(?:[xX][0-9A-Fa-f]{8,}|[0-9]{8,});?")


def html_to_text(markup: str, *, limit: int = 0) -> str:
    """Return the text a reader sees in `markup`, links kept as `[text](url)`.

    Images and emphasis are dropped; lines are not re-wrapped; runs of blank
    lines become one. With `limit`, reading stops once that many characters of
    output were written. Never raises, and costs time linear in `len(markup)`.
    """
    writer = _Writer(limit)
    _Tokenizer(markup, writer).run()
    lines = [line.rstrip() for line in "".join(writer.out).split("\n")]
    return _collapse_blank_lines(lines).strip()


def _collapse_blank_lines(lines: list[str]) -> str:
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept)


def _unescape(text: str) -> str:
    if "&" not in text:
        return text
    return htmllib.unescape(_HUGE_CHARREF.sub("\ufffd", text))


# ------------------------------------------------------------------ writer


@dataclass
class _Link:
    href: str
    slot: int  # index in `out` of the "[" placeholder; -1 until the link's text begins


@dataclass
class _Writer:
    """Turns tag and text events into lines; O(1) state per event but for links."""

    limit: int
    out: list[str] = field(default_factory=list)
    written: int = 0
    # Lists open: None for <ul>, the next number for <ol>.
    lists: list[int | None] = field(default_factory=list)
    quotes: int = 0
    pre: int = 0
    hidden: int = 0
    in_head: bool = False
    link: _Link | None = None
    at_line_start: bool = True
    pending_breaks: int = 0  # newlines owed before the next text
    # Quote depth where the owed break began: a blank line before a quote is not quoted.
    break_quotes: int = 0
    cell_open: bool = False
    after_space: bool = False  # HTML shows one space where two elements each bring one

    @property
    def full(self) -> bool:
        return bool(self.limit) and self.written >= self.limit

    # -- text

    def text(self, data: str) -> None:
        if self.hidden:
            return
        if self.in_head:
            if not data.strip():
                return
            self.in_head = False
        if not self.pre:
            data = _WHITESPACE.sub(" ", data)
            if self.at_line_start or self.pending_breaks or self.after_space:
                data = data.lstrip(" ")
            if not data:
                return
        self._flush_breaks()
        if self.pre:
            self._emit_pre(data)
        else:
            self._emit(data)

    def _emit(self, data: str) -> None:
        if self.at_line_start:
            prefix = self._prefix()
            self.out.append(prefix)
            self.written += len(prefix)
            self.at_line_start = False
        if self.link is not None and self.link.slot < 0:
            # The "[" goes after the line's prefix, where the link's text begins.
            self.out.append("")
            self.link.slot = len(self.out) - 1
        self.out.append(data)
        self.written += len(data)
        self.after_space = data.endswith(" ")

    def _emit_pre(self, data: str) -> None:
        for index, piece in enumerate(data.split("\n")):
            if index:
                self.out.append("\n")
                self.at_line_start = True
            if piece:
                self._emit(piece)

    def _prefix(self) -> str:
        quote = "> " * min(self.quotes, _MAX_PREFIX_DEPTH)
        indent = "  " * min(max(len(self.lists) - 1, 0), _MAX_PREFIX_DEPTH)
        return quote + indent

    # -- breaks

    def line_break(self) -> None:
        """A `<br>`: always a new line, even an empty one."""
        if self.hidden:
            return
        self._flush_breaks()
        if self.at_line_start and self.quotes:
            self.out.append(self._prefix().rstrip())
        self.out.append("\n")
        self.written += 1
        self.at_line_start = True

    def block(self, breaks: int) -> None:
        """Owe `breaks` newlines (1: a new line, 2: a new paragraph) before the next text."""
        if not self.hidden and self.out:
            if not self.pending_breaks:
                self.break_quotes = self.quotes
            self.break_quotes = min(self.break_quotes, self.quotes)
            self.pending_breaks = max(self.pending_breaks, breaks)

    def _flush_breaks(self) -> None:
        if not self.pending_breaks:
            return
        needed = self.pending_breaks - (1 if self.at_line_start else 0)
        blank = ("> " * min(self.break_quotes, _MAX_PREFIX_DEPTH)).rstrip()
        for _ in range(max(needed, 0)):
            self.out.append(blank + "\n" if self.at_line_start else "\n")
            self.written += 1
            self.at_line_start = True
        self.pending_breaks = 0

    # -- elements

    def start(self, name: str, href: str) -> None:
        if self.in_head and name not in _HEAD_CONTENT:
            self.in_head = False
        if name in _HIDDEN:
            if name == "head":
                self.in_head = True
            else:
                self.hidden += 1
            return
        if name == "br":
            self.line_break()
        elif name == "hr":
            self.block(2)
            self.text("* * *")
            self.block(2)
        elif name == "li":
            self._list_item()
        elif name in ("ul", "ol"):
            self.block(1 if self.lists else 2)
            self.lists.append(1 if name == "ol" else None)
        elif name == "blockquote":
            self.block(2)
            self.quotes += 1
        elif name == "pre":
            self.block(2)
            self.pre += 1
        elif name in _CELLS:
            if self.cell_open:
                self.text(" | ")
            self.cell_open = True
        elif name == "tr":
            self.block(1)
            self.cell_open = False
        elif name == "a":
            self._open_link(href)
        elif name in _PARAGRAPHS:
            self.block(2)
        elif name in _LINES:
            self.block(1)

    def end(self, name: str) -> None:
        if name in _HIDDEN:
            if name == "head":
                self.in_head = False
            elif self.hidden:
                self.hidden -= 1
            return
        if name in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self.block(1 if self.lists else 2)
        elif name == "blockquote":
            self.block(2)
            self.quotes = max(self.quotes - 1, 0)
        elif name == "pre":
            self.block(2)
            self.pre = max(self.pre - 1, 0)
        elif name == "a":
            self._close_link()
        elif name == "tr":
            self.block(1)
            self.cell_open = False
        elif name == "table":
            self.block(2)
            self.cell_open = False
        elif name in _PARAGRAPHS:
            self.block(2)
        elif name in _LINES:
            self.block(1)

    def _list_item(self) -> None:
        self.block(1)
        self._flush_breaks()
        if not self.lists or self.lists[-1] is None:
            marker = "* "
        else:
            number = self.lists[-1]
            marker = f"{number}. "
            self.lists[-1] = number + 1
        self.text(marker)

    def _open_link(self, href: str) -> None:
        self._close_link()
        href = href.strip()
        if self.hidden or not href or href.startswith("#") or href.lower().startswith(
            "javascript:"
        ):
            return
        self.link = _Link(href, -1)

    def _close_link(self) -> None:
        link, self.link = self.link, None
        if link is None or link.slot < 0:
            return
        # Each character belongs to at most one link: joining it here stays linear.
        shown = "".join(self.out[link.slot + 1:]).strip()
        if not shown or shown in (link.href, link.href.removeprefix("mailto:")):
            return
        self.out[link.slot] = "["
        if self.after_space:
            # "[text ](url)" reads badly: the space goes after the link.
            self.out[-1] = self.out[-1].rstrip(" ")
            self.out.append(f"]({link.href}) ")
        else:
            self.out.append(f"]({link.href})")


# --------------------------------------------------------------- tokenizer


class _Tokenizer:
    """One pass over the markup; every step leaves `pos` further on, or at the end."""

    def __init__(self, markup: str, writer: _Writer) -> None:
        self.s = markup
        self.pos = 0
        self.w = writer

    def run(self) -> None:
        s, end, w = self.s, len(self.s), self.w
        while self.pos < end and not w.full:
            # Text and tags without quotes (nearly all of them) in one match.
            token = _TOKEN.match(s, self.pos)
            if token is None:
                self._markup()
                continue
            self.pos = token.end()
            text, slash, name, attributes = token.groups()
            if text is not None:
                w.text(_unescape(text))
            elif slash:
                w.end(name.lower())
            else:
                self._tag(name.lower(), attributes)

    def _tag(self, name: str, attributes: str) -> None:
        href = ""
        if name == "a":
            found = _HREF.search(attributes)
            if found is not None:
                href = _unescape(found.group(1).strip("\"'"))
        self.w.start(name, href)
        if name in _RAW_TEXT:
            self._raw_text(name)

    def _markup(self) -> None:
        """What `_TOKEN` leaves: comments, declarations, and tags with quotes or a stray `<`."""
        s, i = self.s, self.pos
        nxt = s[i + 1:i + 2]
        if s.startswith("<!--", i):
            close = s.find("-->", i + 4)
            self.pos = len(s) if close < 0 else close + 3
        elif nxt in ("!", "?") or (nxt == "/" and not s[i + 2:i + 3].isalpha()):
            close = s.find(">", i + 2)
            self.pos = len(s) if close < 0 else close + 1
        elif nxt == "/" or (nxt.isascii() and nxt.isalpha()):
            self._quoted_tag()
        else:
            self.w.text("<")
            self.pos = i + 1

    def _quoted_tag(self) -> None:
        """A tag whose attribute values may hold `>`: its end is found quote by quote.

        A tag or quoted value cut by the end of the input is dropped, with the rest.
        """
        s, start = self.s, self.pos
        pos = start
        while True:
            stop = _TAG_STOP.search(s, pos)
            if stop is None:
                self.pos = len(s)
                return
            if stop.group() == ">":
                break
            close = s.find(stop.group(), stop.end())
            if close < 0:
                self.pos = len(s)
                return
            pos = close + 1
        self.pos = stop.end()
        head = _NAME.match(s, start + 1 if s[start + 1] != "/" else start + 2)
        if head is None:
            return
        name = head.group().lower()
        if s[start + 1] == "/":
            self.w.end(name)
        else:
            self._tag(name, s[head.end():stop.start()])

    def _raw_text(self, name: str) -> None:
        closing = re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE)
        found = closing.search(self.s, self.pos)
        content_end = len(self.s) if found is None else found.start()
        if name == "textarea":
            self.w.text(_unescape(self.s[self.pos:content_end]))
        self.pos = content_end
        if found is None:
            self.w.end(name)
