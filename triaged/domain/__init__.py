"""The domain: records, enums, errors and the clock every layer speaks in. Imports nothing
of triaged.
"""
