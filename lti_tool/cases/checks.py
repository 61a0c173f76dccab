"""Authenticity checks: planned from the policy's list, then recorded once with the date, who,
the outcome and notes."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from lti_tool.cases.access import PLAN_CHECK, RECORD_CHECK, check_may_act
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
    "supports": "Supports that the work is the learner's own",
    "concerns": "Raises concerns about authenticity",
    "inconclusive": "Inconclusive",
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
               at: datetime | None = None) -> AuthenticityCheck:
    """Plan one of the policy's authenticity checks."""
    check_may_act(actor, incident, PLAN_CHECK)
    if method not in [str(m) for m in policy["authenticity_checks"]]:
        raise IncidentError("method", "Choose one of the policy's authenticity checks.")
    lock_incident(incident)
    return add_planned_check(incident, actor, method, planned_for, assessor, at or utcnow())


def record_check(check: AuthenticityCheck, actor: Person, *, done_on: date,
                 conducted_by: str, outcome: str, notes: str,
                 at: datetime | None = None) -> AuthenticityCheck:
    """Record that a planned check was done: when, by whom, the outcome and notes. Done
    once; a later correction is a note on the incident."""
    incident = db.session.get(Incident, check.incident_id)
    assert incident is not None
    check_may_act(actor, incident, RECORD_CHECK)
    if outcome not in CHECK_OUTCOMES:
        raise IncidentError("outcome", "Choose the outcome of the check.")
    if not conducted_by.strip():
        raise IncidentError("conducted_by", "Enter who carried out the check.")
    if not notes.strip():
        raise IncidentError("notes", "Enter notes on the check.")
    if done_on > utcnow().date():
        raise IncidentError("done_on", "The date cannot be in the future.")
    lock_incident(incident)
    db.session.refresh(check)
    if check.done:
        raise IncidentConflict("check_recorded", "This check's outcome has already been "
                               "recorded. Add a note to correct it.")
    at = at or utcnow()
    check.done_on = done_on
    check.conducted_by = " ".join(conducted_by.split())[:200]
    check.outcome = outcome
    check.notes = notes.strip()
    check.recorded_by_id = actor.id
    check.recorded_at = at
    append_event(incident, EV_CHECK_RECORDED, actor, {
        "check_id": check.id, "method": check.method, "done_on": done_on.isoformat(),
        "conducted_by": check.conducted_by, "outcome": outcome, "notes": check.notes}, at)
    return check


def checks_of(incident: Incident) -> list[AuthenticityCheck]:
    return list(db.session.scalars(
        sa.select(AuthenticityCheck).where(AuthenticityCheck.incident_id == incident.id)
        .order_by(AuthenticityCheck.id)))
