"""Working days, the unit of the policy data's time limits (the response window and
``case_process.step_targets_days``): Monday to Friday, counted in UTC. Bank holidays are not
known to the tool, so a target that spans one is a day shorter than a person would count
(the flag comes a day early, never late)."""

from __future__ import annotations

from datetime import datetime, timedelta


def add_working_days(start: datetime, days: int) -> datetime:
    """The moment ``days`` working days after ``start`` (same time of day). A start at the
    weekend counts from the next Monday at 00:00."""
    moment = start
    while moment.weekday() >= 5:
        moment = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                      microsecond=0)
    added = 0
    while added < days:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            added += 1
    return moment


def working_days_between(start: datetime, end: datetime) -> int:
    """Whole working days from ``start`` to ``end`` (0 when ``end`` is before
    :func:`add_working_days` (start, 1))."""
    if end <= start:
        return 0
    days = 0
    while add_working_days(start, days + 1) <= end:
        days += 1
        if days > 3660:  # ten years: the caller passed something absurd
            break
    return days
