"""What the operator sees: health, metrics, the HTTP listener, `check`."""
