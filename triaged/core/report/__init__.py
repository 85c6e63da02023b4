"""The owner's report: its periods, figures, words and charts (pure)."""
