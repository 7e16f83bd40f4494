"""Which renewal reminder is due, given the days left in a term.

Reminders go out at fixed thresholds before term end (30, 14 and 7 days by default), each at
most once per service and term. When the scheduler missed days, every threshold passed since
is recorded but only the nearest is sent: one reminder that says the right number of days,
never a stale "30 days" after the "7 days" one.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ReminderDecision:
    send: int | None  # the threshold to send now
    skip: tuple[int, ...]  # thresholds passed unsent, recorded so they never go out later


def reminder_due(days_left: int, thresholds: list[int], recorded: set[int]) -> ReminderDecision:
    if days_left < 0:
        return ReminderDecision(None, ())
    passed = sorted(t for t in thresholds if days_left <= t and t not in recorded)
    if not passed:
        return ReminderDecision(None, ())
    nearest = passed[0]
    if any(t < nearest for t in recorded):  # a nearer reminder already went out
        return ReminderDecision(None, tuple(passed))
    return ReminderDecision(nearest, tuple(passed[1:]))
