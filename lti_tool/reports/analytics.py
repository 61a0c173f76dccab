"""Staff analytics: incidents and stages by course and over time, declaration rates per
placement. A handful of grouped queries whatever the number of courses or learners."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from lti_tool.cases.models import OPEN_STATES, Incident
from lti_tool.dbtypes import utcnow
from lti_tool.declarations.models import Declaration, PlacementBinding, PlacementSettings
from lti_tool.extensions import db
from lti_tool.people.models import Course, CourseMember, Placement


@dataclass(frozen=True)
class CourseIncidents:
    course: Course
    raised: int
    open: int
    not_upheld: int
    stage: dict[int, int]  # upheld incidents by the stage they were given

    @property
    def upheld(self) -> int:
        return sum(self.stage.values())

    def at_stage(self, number: int) -> int:
        return self.stage.get(number, 0)


@dataclass(frozen=True)
class Month:
    key: str  # "2026-11"
    raised: int
    upheld: int
    not_upheld: int = 0
    undecided: int = 0  # raised that month and not decided yet

    @property
    def label(self) -> str:
        """"November 2026"."""
        return _first_of(self.key).strftime("%B %Y")

    @property
    def short(self) -> tuple[str, str]:
        """("Nov", "2026"), for the chart's axis."""
        first = _first_of(self.key)
        return first.strftime("%b"), first.strftime("%Y")

    @property
    def upheld_percent(self) -> int | None:
        decided = self.upheld + self.not_upheld
        return round(100 * self.upheld / decided) if decided else None


MAX_MONTHS = 36


def _first_of(key: str) -> date:
    return date(int(key[:4]), int(key[5:7]), 1)


def _month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class MonthRange:
    """From the first day of ``start``'s month to the end of ``end``'s month (UTC), at most
    ``MAX_MONTHS``; by default the last twelve months."""

    start: date
    end: date
    problem: str = ""

    @classmethod
    def last_year(cls, today: date | None = None) -> MonthRange:
        today = today or utcnow().date()
        end = today.replace(day=1)
        return cls(_add_months(end, -11), end)

    @classmethod
    def from_args(cls, args: Any, today: date | None = None) -> MonthRange:
        """``from`` and ``to`` as YYYY-MM (the month inputs' format); a range it cannot use
        falls back to the last twelve months and says why in ``problem``."""
        default = cls.last_year(today)
        raw_from, raw_to = str(args.get("from", "")), str(args.get("to", ""))
        if not raw_from and not raw_to:
            return default
        try:
            start = _first_of(raw_from) if raw_from else default.start
            end = _first_of(raw_to) if raw_to else default.end
        except (ValueError, IndexError):
            return cls(default.start, default.end,
                       "Enter the months as year and month, for example 2026-09.")
        if start > end:
            return cls(default.start, default.end, "The first month must not be after the last.")
        if _add_months(start, MAX_MONTHS - 1) < end:
            return cls(default.start, default.end,
                       f"Choose at most {MAX_MONTHS} months at a time.")
        return cls(start, end)

    @property
    def months(self) -> list[str]:
        keys, day = [], self.start
        while day <= self.end:
            keys.append(_month_key(day))
            day = _add_months(day, 1)
        return keys

    @property
    def since(self) -> datetime:
        return datetime(self.start.year, self.start.month, 1, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        after = _add_months(self.end, 1)
        return datetime(after.year, after.month, 1, tzinfo=UTC)

    @property
    def label(self) -> str:
        return f"{self.start.strftime('%B %Y')} to {self.end.strftime('%B %Y')}"


@dataclass(frozen=True)
class PlacementRate:
    placement: Placement
    course: Course
    learners: int
    declared: int
    title: str = ""  # the activity's title in the tool (Moodle's when it has none)

    @property
    def percent(self) -> int:
        return round(100 * self.declared / self.learners) if self.learners else 0


def incidents_by_course(courses: Collection[Course],
                        period: MonthRange | None = None) -> list[CourseIncidents]:
    """Per course: incidents raised (in ``period``, if given), still open, not upheld and
    upheld by stage."""
    ids = [c.id for c in courses]
    stmt = sa.select(Incident.course_id, Incident.state, Incident.outcome, Incident.stage,
                     sa.func.count()).where(Incident.course_id.in_(ids))
    if period is not None:
        stmt = stmt.where(Incident.raised_at >= period.since, Incident.raised_at < period.until)
    rows = db.session.execute(
        stmt
        .group_by(Incident.course_id, Incident.state, Incident.outcome, Incident.stage))
    totals: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    stages: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for course_id, state, outcome, stage, count in rows:
        totals[course_id]["raised"] += count
        if state in OPEN_STATES and outcome is None:
            totals[course_id]["open"] += count
        if outcome == "not_upheld":
            totals[course_id]["not_upheld"] += count
        if outcome == "upheld" and stage:
            stages[course_id][int(stage)] += count
    return [CourseIncidents(c, totals[c.id]["raised"], totals[c.id]["open"],
                            totals[c.id]["not_upheld"], dict(stages[c.id]))
            for c in sorted(courses, key=lambda c: c.display_name.casefold())]


def stage_numbers(by_course: Collection[CourseIncidents], last_stage: int) -> list[int]:
    """The stage columns to show: every stage of the policy, and any higher stage a case
    was given under another policy."""
    found = [n for c in by_course for n in c.stage]
    return list(range(1, max([last_stage, *found]) + 1))


def incidents_by_month(courses: Collection[Course],
                       period: MonthRange | None = None) -> list[Month]:
    """Incidents raised per calendar month of ``period`` (default the last twelve), oldest
    first, with how those were decided: upheld, not upheld, not decided yet."""
    period = period or MonthRange.last_year()
    keys = period.months
    counts = {key: {"raised": 0, "upheld": 0, "not_upheld": 0} for key in keys}
    rows = db.session.execute(
        sa.select(Incident.raised_at, Incident.outcome)
        .where(Incident.course_id.in_([c.id for c in courses]),
               Incident.raised_at >= period.since, Incident.raised_at < period.until))
    for raised_at, outcome in rows:
        found = counts.get(raised_at.strftime("%Y-%m"))
        if found is not None:
            found["raised"] += 1
            if outcome in ("upheld", "not_upheld"):
                found[outcome] += 1
    return [Month(key, c["raised"], c["upheld"], c["not_upheld"],
                  c["raised"] - c["upheld"] - c["not_upheld"])
            for key, c in ((k, counts[k]) for k in keys)]


def declaration_rates(courses: Collection[Course], policy_id: int) -> list[PlacementRate]:
    """Per placement: learners on the course's roster and how many declared under the
    current policy."""
    ids = [c.id for c in courses]
    by_id = {c.id: c for c in courses}
    placements = list(db.session.scalars(
        sa.select(Placement).where(Placement.course_id.in_(ids))))
    learners: dict[int, int] = dict(db.session.execute(  # type: ignore[arg-type]
        sa.select(CourseMember.course_id, sa.func.count())
        .where(CourseMember.course_id.in_(ids), CourseMember.is_learner.is_(True),
               CourseMember.active.is_(True))
        .group_by(CourseMember.course_id)).all())
    declared: dict[int, int] = dict(db.session.execute(  # type: ignore[arg-type]
        sa.select(Declaration.placement_id, sa.func.count(sa.distinct(Declaration.person_id)))
        .where(Declaration.placement_id.in_([p.id for p in placements]),
               Declaration.policy_version_id == policy_id)
        .group_by(Declaration.placement_id)).all())
    titles = dict(db.session.execute(  # type: ignore[arg-type]
        sa.select(PlacementBinding.placement_id, PlacementSettings.title)
        .join(PlacementSettings, PlacementSettings.id == PlacementBinding.settings_id)
        .where(PlacementBinding.placement_id.in_([p.id for p in placements]))).all())
    return sorted((PlacementRate(p, by_id[p.course_id], int(learners.get(p.course_id, 0)),
                                 int(declared.get(p.id, 0)),
                                 titles.get(p.id) or p.display_name) for p in placements),
                  key=lambda r: (r.course.display_name.casefold(), r.title.casefold()))
