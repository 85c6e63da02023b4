"""Intake: one incoming message → one committed outcome (see `entry` and `pipeline`)."""

from triaged.usecases.intake.entry import Intake, Redo, Tally

__all__ = ["Intake", "Redo", "Tally"]
