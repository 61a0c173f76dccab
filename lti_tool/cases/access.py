"""Who may see and act on a case: full detail for ALS members, tool administrators and the
course's current staff; the conflict-of-interest rule every action goes through."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext

from lti_tool.cases.errors import ConflictOfInterest
from lti_tool.cases.models import (
    EV_DECIDED,
    Incident,
    IncidentEvent,
)
from lti_tool.extensions import db
from lti_tool.people.models import Course, CourseMember, CourseRole, Person


def checkers() -> list[str]:
    """The authorised AI-checking systems (setting ``AI_CHECKERS``)."""
    value = current_app.config.get("AI_CHECKERS") or []
    if isinstance(value, str):
        value = json.loads(value) if value.strip().startswith("[") else [
            v.strip() for v in value.split(",")]
    return [str(v).strip() for v in value if str(v).strip()]


def can_see_everything(person: Person) -> bool:
    """ALS members, quality leads (who report cases to the awarding body) and tool
    administrators see full detail of every incident on the platform."""
    from lti_tool.roles import service as roles
    from lti_tool.roles.models import ALS, QUALITY_LEAD

    held = roles.held_roles(person)
    return bool(held & {ALS, QUALITY_LEAD}) or roles.is_tool_admin(person, held)


def staff_course_ids(person: Person) -> set[int]:
    """Courses where Moodle currently confirms ``person`` as staff (or admin)."""
    from lti_tool.people.service import staff_course_ids as confirmed_staff_courses

    return confirmed_staff_courses(person.id)


def full_detail(viewer: Person, incident: Incident, staff_courses: set[int] | None = None,
                everything: bool | None = None) -> bool:
    """Whether ``viewer`` may see the incident in full, not just its summary: ALS members,
    tool administrators and the current staff of its course, never its subject.

    Pass ``staff_courses`` and ``everything`` (from :func:`staff_course_ids` and
    :func:`can_see_everything`) when checking many incidents, to look them up once.
    """
    if viewer.platform_id != incident.platform_id or conflict_of_interest(
            viewer, incident, VIEW) is not None:
        return False
    if everything if everything is not None else can_see_everything(viewer):
        return True
    courses = staff_course_ids(viewer) if staff_courses is None else staff_courses
    return incident.course_id in courses


VIEW = "view"


ADD_EVIDENCE = "add_evidence"


PLAN_CHECK = "plan_check"


RECORD_CHECK = "record_check"


DECIDE = "decide"


WITHDRAW = "withdraw"


FOLLOW_UP_ACTION = "follow_up"


NOTE = "note"


REPORT = "report"


APPEAL_REVIEW = "appeal_review"


ACTIONS = (VIEW, ADD_EVIDENCE, PLAN_CHECK, RECORD_CHECK, DECIDE, WITHDRAW, FOLLOW_UP_ACTION,
           NOTE, REPORT, APPEAL_REVIEW)


def conflict_of_interest(person: Person, incident: Incident, action: str) -> str | None:
    """Why ``person`` may not take ``action`` on the incident, or None if they may. The one
    rule every incident action goes through (fair process: nobody judges their own case,
    and an appeal is heard by someone new to it):

    * its subject (the learner) may take no staff action on it, not even open it as staff;
    * whoever raised it or decided it (now or before a withdrawal) may not review its
      appeal.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown incident action {action!r}")
    if person.id == incident.learner_id:
        return (gettext("This incident is about you, so you cannot open it as staff or take part "
                        "in it. Another member of staff or the ALS team will handle it."))
    if action == APPEAL_REVIEW:
        deciders = set(db.session.scalars(sa.select(IncidentEvent.actor_id).where(
            IncidentEvent.incident_id == incident.id, IncidentEvent.kind == EV_DECIDED)))
        if person.id in {incident.raised_by_id, incident.decided_by_id, *deciders}:
            return (gettext("You raised or decided this incident, so you cannot review its appeal. "
                            "Someone new to the case must review it."))
    return None


def check_may_act(person: Person, incident: Incident, action: str) -> None:
    """Raise :class:`ConflictOfInterest` (403) if :func:`conflict_of_interest` refuses;
    called before anything is written."""
    reason = conflict_of_interest(person, incident, action)
    if reason is not None:
        raise ConflictOfInterest("conflict_of_interest", reason)


def learner_in_course(person: Person, course: Course) -> bool:
    """Whether the person is (or was) a member of the course: launched there, listed by
    Names and Roles, or has an incident there."""
    if person.platform_id != course.platform_id:
        return False
    return bool(db.session.scalar(sa.select(sa.or_(
        sa.exists().where(CourseRole.person_id == person.id, CourseRole.course_id == course.id),
        sa.exists().where(CourseMember.course_id == course.id, CourseMember.sub == person.sub),
        sa.exists().where(Incident.learner_id == person.id, Incident.course_id == course.id),
    ))))
