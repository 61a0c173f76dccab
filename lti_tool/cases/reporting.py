"""Reporting to the awarding body: when a case reaches the stage at which its course's
awarding body is told (``awarding_bodies[].reporting`` in the policy data), the people who
report (ALS members and quality leads, from the tool's roles) are emailed and the case waits
in their queue until the report is recorded (the reporting follow-up). A marker who may not
produce the report (it holds other courses' cases) sends it to them instead.

Each is an event on the case (``reporters_told``, ``report_requested``), never a change to
an earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from lti_tool.cases.clocks import Clock, case_clocks, reportable
from lti_tool.cases.events import append_event, lock_incident
from lti_tool.cases.letters import assignment_name
from lti_tool.cases.models import (
    EV_REPORT_REQUESTED,
    EV_REPORTERS_TOLD,
    FOLLOW_UP,
    UPHELD,
    Incident,
    IncidentEvent,
)
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.policy.service import Policy


def _email_reporters(incident: Incident, *, requested_by: Person | None,
                     due: Clock | None) -> int:
    from lti_tool.notifications.service import send_email
    from lti_tool.roles.service import reporters

    sent = 0
    assignment = assignment_name(incident.placement)
    for person in reporters(incident.platform_id):
        if person.id == incident.learner_id or not person.email:
            continue
        subject = (f"Report to the awarding body needed: {incident.learner.display_name}"
                   if requested_by is None else
                   f"{requested_by.display_name} asks you to send a report to the awarding "
                   f"body: {incident.learner.display_name}")
        if send_email(person.email, subject, "report_needed", platform_id=incident.platform_id,
                      reporter=person, learner=incident.learner, incident=incident,
                      assignment=assignment, course=incident.course,
                      requested_by=requested_by, due=due) is not None:
            sent += 1
    return sent


def tell_reporters(incident: Incident, policy: Policy, at: datetime | None = None) -> int:
    """Called when a decision gives the case the reportable stage (the incident is locked):
    email the reporters and record that they were told. Returns how many were emailed."""
    at = at or utcnow()
    due = next((c for c in case_clocks(incident, policy, now=at)
                if c.step == "report"), None)
    sent = _email_reporters(incident, requested_by=None, due=due)
    append_event(incident, EV_REPORTERS_TOLD, None, {"emailed": sent}, at)
    return sent


def case_to_report(learner: Person) -> Incident | None:
    """The learner's latest case at the reportable stage (each under its own policy), else
    their latest upheld case."""
    from lti_tool.cases.standing import case_policy

    found = list(db.session.scalars(
        sa.select(Incident).where(Incident.learner_id == learner.id,
                                  Incident.outcome == UPHELD)
        .order_by(Incident.decided_at.desc(), Incident.id.desc())))
    return next((i for i in found if reportable(i, case_policy(i))),
                found[0] if found else None)


def request_report(learner: Person, requester: Person,
                   at: datetime | None = None) -> tuple[Incident | None, int]:
    """A marker who may not produce the report sends it to the reporters: an event on the
    case to report and an email to each. Returns the case and how many were emailed."""
    from lti_tool.cases.standing import case_policy

    incident = case_to_report(learner)
    if incident is None:
        return None, 0
    policy = case_policy(incident)
    lock_incident(incident)
    at = at or utcnow()
    due = next((c for c in case_clocks(incident, policy, now=at)
                if c.step == "report"), None)
    sent = _email_reporters(incident, requested_by=requester, due=due)
    append_event(incident, EV_REPORT_REQUESTED, requester, {"emailed": sent}, at)
    return incident, sent


@dataclass(frozen=True)
class QueueItem:
    incident: Incident
    assignment: str
    clock: Clock | None
    requested_by: list[tuple[str, datetime]]

    @property
    def overdue(self) -> bool:
        return self.clock is not None and self.clock.overdue


def queue(platform_id: int, now: datetime | None = None) -> list[QueueItem]:
    """Cases at the reportable stage (of each case's own policy) whose report has not been
    recorded yet, oldest decision first, with the report's clock and who asked for it."""
    from lti_tool.cases.standing import case_policy

    now = now or utcnow()
    cases = list(db.session.scalars(
        sa.select(Incident).where(Incident.platform_id == platform_id,
                                  Incident.state == FOLLOW_UP, Incident.outcome == UPHELD)
        .options(selectinload(Incident.learner), selectinload(Incident.course),
                 selectinload(Incident.placement))
        .order_by(Incident.decided_at, Incident.id)))
    policies = {c.id: case_policy(c) for c in cases}
    cases = [c for c in cases if reportable(c, policies[c.id])]
    asked: dict[int, list[tuple[str, datetime]]] = {}
    if cases:
        for event in db.session.scalars(
                sa.select(IncidentEvent).where(
                    IncidentEvent.incident_id.in_([c.id for c in cases]),
                    IncidentEvent.kind == EV_REPORT_REQUESTED)
                .options(selectinload(IncidentEvent.actor_person))
                .order_by(IncidentEvent.at)):
            name = event.actor_person.display_name if event.actor_person else "AIU"
            asked.setdefault(event.incident_id, []).append((name, event.at))
    return [QueueItem(c, assignment_name(c.placement),
                      next((k for k in case_clocks(c, policies[c.id], now=now)
                            if k.step == "report"), None),
                      asked.get(c.id, [])) for c in cases]


def describe_event(kind: str, data: dict[str, object]) -> str | None:
    """A reporting step in plain English (None if ``kind`` is not one)."""
    emailed = data.get("emailed", 0)
    if kind == EV_REPORTERS_TOLD:
        return (f"The case must be reported to the awarding body: the reporting team (ALS "
                f"and quality lead) was emailed ({emailed} people).")
    if kind == EV_REPORT_REQUESTED:
        return f"Asked the reporting team to send the report ({emailed} people emailed)."
    return None
