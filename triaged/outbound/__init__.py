"""Outgoing letters: rendering, MIME composition and delivery."""
