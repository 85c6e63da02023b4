"""Use cases: each owns its transaction. Intake, polling, sending, escalation, approval,
satisfaction, bounces.
"""
