"""Letters: what goes into each kind, its rendering from templates, and its RFC 5322 bytes."""
