"""Config pieces that make the escalation ladder run within a test: a calendar with no
closed hours, minute-scale durations, and a team with two levels of managers."""

from __future__ import annotations

ROUND_THE_CLOCK = ('working_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]\n'
                   'working_hours = ["00:00", "24:00"]')
FAST_LADDER = ('resolve_within = "10 minutes"\nremind_before = "2 minutes"\n'
               'escalate_every = "3 minutes"\ntop_level_every = "1 hour"')


def people(team: str, first: str, second: str) -> str:
    return f"""
[staff]
notify = ["{team}"]

[[managers]]
email = "{first}"
name = "Dana"
level = 1

[[managers]]
email = "{second}"
name = "Ana"
level = 2
"""
