"""Raw mail bytes to `ParsedMail`: structure, charsets, HTML to text."""
