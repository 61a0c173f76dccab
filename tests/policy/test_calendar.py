"""Working days (the unit of the policy's clock targets)."""

from __future__ import annotations

from datetime import UTC, datetime

from lti_tool.policy.calendar import add_working_days, working_days_between

# 2026-06-05 is a Friday.
FRIDAY = datetime(2026, 6, 5, 15, 0, tzinfo=UTC)


def test_working_days_skip_the_weekend() -> None:
    assert add_working_days(FRIDAY, 1) == datetime(2026, 6, 8, 15, 0, tzinfo=UTC)
    assert add_working_days(FRIDAY, 10) == datetime(2026, 6, 19, 15, 0, tzinfo=UTC)
    saturday = datetime(2026, 6, 6, 10, 0, tzinfo=UTC)
    assert add_working_days(saturday, 1) == datetime(2026, 6, 9, 0, 0, tzinfo=UTC)
    assert add_working_days(FRIDAY, 0) == FRIDAY


def test_working_days_between() -> None:
    assert working_days_between(FRIDAY, datetime(2026, 6, 8, 14, 59, tzinfo=UTC)) == 0
    assert working_days_between(FRIDAY, datetime(2026, 6, 8, 15, 0, tzinfo=UTC)) == 1
    assert working_days_between(FRIDAY, datetime(2026, 6, 19, 16, 0, tzinfo=UTC)) == 10
    assert working_days_between(FRIDAY, FRIDAY) == 0
