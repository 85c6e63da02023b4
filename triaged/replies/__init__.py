"""Signed replies: tokens, where they travel in a letter, Authentication-Results, and the
router that hands a reply to its purpose.
"""
