"""Mail sources: where incoming messages come from (protocol adapters)."""
