"""Raw mail bytes to `ParsedMail`: structure, charsets, HTML to text."""

from triaged.parse.message import parse_message

__all__ = ["parse_message"]
