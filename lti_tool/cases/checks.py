"""Authenticity checks: planned from the policy's list, then recorded once with the date, who,
the outcome and notes."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import gettext, lazy_gettext

from lti_tool.cases.access import PLAN_CHECK, RECORD_CHECK, check_may_act
from lti_tool.cases.check_plans import (
    Schedule,
    clean_schedule,
    schedule_check,
    tell_learner,
)
from lti_tool.cases.errors import IncidentConflict, IncidentError
from lti_tool.cases.events import append_event, lock_incident
from lti_tool.cases.models import (
    EV_CHECK_PLANNED,
    EV_CHECK_RECORDED,
    AuthenticityCheck,
    Incident,
)
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.policy.service import Policy

CHECK_OUTCOMES = {
    "supports": lazy_gettext("Supports that the work is the learner's own"),
    "concerns": lazy_gettext("Raises concerns about authenticity"),
    "inconclusive": lazy_gettext("Inconclusive"),
}


def add_planned_check(incident: Incident, actor: Person, method: str, planned_for: date | None,
                      assessor: str, at: datetime) -> AuthenticityCheck:
    check = AuthenticityCheck(incident_id=incident.id, method=method, planned_by_id=actor.id,
                              planned_at=at, planned_for=planned_for,
                              assessor=" ".join(assessor.split())[:200])
    db.session.add(check)
    db.session.flush()
    append_event(incident, EV_CHECK_PLANNED, actor, {
        "check_id": check.id, "method": method,
        "planned_for": planned_for.isoformat() if planned_for else None,
        "assessor": check.assessor}, at)
    return check


def plan_check(incident: Incident, actor: Person, policy: Policy, *, method: str,
               planned_for: date | None = None, assessor: str = "",
               schedule: Schedule | None = None,
               at: datetime | None = None) -> AuthenticityCheck:
    """Plan one of the policy's authenticity checks. With a date (``schedule``, or just
    ``planned_for``) the learner is emailed the details. When the same method was planned
    without a date (when the case was raised, say) and is still to do, that check gets the
    date: planning with a date never leaves an undated copy behind."""
    check_may_act(actor, incident, PLAN_CHECK)
    if method not in [str(m) for m in policy["authenticity_checks"]]:
        raise IncidentError("method", gettext("Choose one of the policy's authenticity checks."))
    if schedule is None and planned_for is not None:
        schedule = Schedule(planned_for)
    if schedule is not None:
        schedule = clean_schedule(schedule)
    lock_incident(incident)
    at = at or utcnow()
    if schedule is not None:
        undated = db.session.scalar(
            sa.select(AuthenticityCheck).where(
                AuthenticityCheck.incident_id == incident.id,
                AuthenticityCheck.method == method,
                AuthenticityCheck.planned_for.is_(None),
                AuthenticityCheck.done_on.is_(None),
                AuthenticityCheck.cancelled_at.is_(None))
            .order_by(AuthenticityCheck.id).limit(1))
        if undated is not None:
            if assessor.strip():
                undated.assessor = " ".join(assessor.split())[:200]
            schedule_check(incident, undated, actor, schedule, at)
            return undated
    check = add_planned_check(incident, actor, method, None, assessor, at)
    if schedule is not None:
        schedule_check(incident, check, actor, schedule, at)
    return check


def record_check(check: AuthenticityCheck, actor: Person, *, done_on: date,
                 conducted_by: str, outcome: str, notes: str, subject_knowledge: str = "",
                 production: str = "", two_part: bool = False,
                 at: datetime | None = None) -> AuthenticityCheck:
    """Record that a planned check was done: when, by whom, the outcome and notes; with
    ``two_part`` (a check the policy data's ``case_process.two_part_checks`` names) both
    parts of the record, the learner's subject knowledge and how they produced the work.
    Done once; a later correction is a note on the incident. The learner is emailed that
    the record can be read (and commented on)."""
    incident = db.session.get(Incident, check.incident_id)
    assert incident is not None
    check_may_act(actor, incident, RECORD_CHECK)
    if outcome not in CHECK_OUTCOMES:
        raise IncidentError("outcome", gettext("Choose the outcome of the check."))
    if not conducted_by.strip():
        raise IncidentError("conducted_by", gettext("Enter who carried out the check."))
    if not notes.strip():
        raise IncidentError("notes", gettext("Enter notes on the check."))
    if two_part:
        if not subject_knowledge.strip():
            raise IncidentError("subject_knowledge", gettext("Record what the learner showed about "
                                                             "their subject knowledge."))
        if not production.strip():
            raise IncidentError("production", gettext("Record how the learner produced the work "
                                                      "(their drafts, notes, sources and writing "
                                                      "process)."))
    if done_on > utcnow().date():
        raise IncidentError("done_on", gettext("The date cannot be in the future."))
    lock_incident(incident)
    db.session.refresh(check)
    if check.done:
        raise IncidentConflict("check_recorded", gettext("This check's outcome has already been "
                                                         "recorded. Add a note to correct it."))
    if check.cancelled_at is not None:
        raise IncidentConflict("check_cancelled", gettext("This check was cancelled. Plan a new "
                                                          "one to record it."))
    at = at or utcnow()
    check.done_on = done_on
    check.conducted_by = " ".join(conducted_by.split())[:200]
    check.outcome = outcome
    check.notes = notes.strip()
    check.subject_knowledge = subject_knowledge.strip()
    check.production = production.strip()
    check.recorded_by_id = actor.id
    check.recorded_at = at
    append_event(incident, EV_CHECK_RECORDED, actor, {
        "check_id": check.id, "method": check.method, "done_on": done_on.isoformat(),
        "conducted_by": check.conducted_by, "outcome": outcome, "notes": check.notes,
        "subject_knowledge": check.subject_knowledge, "production": check.production}, at)
    tell_learner(incident, check, "recorded")
    return check


def checks_of(incident: Incident) -> list[AuthenticityCheck]:
    return list(db.session.scalars(
        sa.select(AuthenticityCheck).where(AuthenticityCheck.incident_id == incident.id)
        .order_by(AuthenticityCheck.id)))
