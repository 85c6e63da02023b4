"""The outside world behind small ports: IMAP, Maildir and SMTP. They know nothing of
complaints.
"""
