"""Staff analytics: incidents and stages by course and over time, declaration rates per
placement. A handful of grouped queries whatever the number of courses or learners."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from lti_tool.cases.models import OPEN_STATES, Incident
from lti_tool.dbtypes import utcnow
from lti_tool.declarations.models import Declaration
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


@dataclass(frozen=True)
class Month:
    label: str  # "2026-11"
    raised: int
    upheld: int


@dataclass(frozen=True)
class PlacementRate:
    placement: Placement
    course: Course
    learners: int
    declared: int

    @property
    def percent(self) -> int:
        return round(100 * self.declared / self.learners) if self.learners else 0


def incidents_by_course(courses: Collection[Course]) -> list[CourseIncidents]:
    ids = [c.id for c in courses]
    rows = db.session.execute(
        sa.select(Incident.course_id, Incident.state, Incident.outcome, Incident.stage,
                  sa.func.count())
        .where(Incident.course_id.in_(ids))
        .group_by(Incident.course_id, Incident.state, Incident.outcome, Incident.stage))
    totals: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    stages: dict[int, dict[int, int]] = defaultdict(lambda: {1: 0, 2: 0, 3: 0})
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


def incidents_by_month(courses: Collection[Course], months: int = 12,
                       now: datetime | None = None) -> list[Month]:
    """Incidents raised (and of those, upheld) per calendar month, oldest first."""
    now = now or utcnow()
    index = now.year * 12 + now.month - 1 - (months - 1)
    first = now.replace(year=index // 12, month=index % 12 + 1, day=1, hour=0, minute=0,
                        second=0, microsecond=0)
    labels = [f"{(index + n) // 12:04d}-{(index + n) % 12 + 1:02d}" for n in range(months)]
    raised = dict.fromkeys(labels, 0)
    upheld = dict.fromkeys(labels, 0)
    rows = db.session.execute(
        sa.select(Incident.raised_at, Incident.outcome)
        .where(Incident.course_id.in_([c.id for c in courses]), Incident.raised_at >= first))
    for raised_at, outcome in rows:
        label = raised_at.strftime("%Y-%m")
        if label in raised:
            raised[label] += 1
            upheld[label] += outcome == "upheld"
    return [Month(label, raised[label], upheld[label]) for label in labels]


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
    return sorted((PlacementRate(p, by_id[p.course_id], int(learners.get(p.course_id, 0)),
                                 int(declared.get(p.id, 0))) for p in placements),
                  key=lambda r: (r.course.display_name.casefold(), r.placement.display_name))
