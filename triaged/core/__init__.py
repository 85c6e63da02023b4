"""Pure logic: parsing, classification, language, references, the business calendar,
letters. No I/O on the network or the database.
"""
