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
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.orm import selectinload

from lti_tool.cases.clocks import (
    Clock,
    case_clocks,
    reportable,
    reported_on_suspicion,
    suspicion_clock,
)
from lti_tool.cases.events import append_event, lock_incident
from lti_tool.cases.letters import assignment_name
from lti_tool.cases.models import (
    EV_REPORT_REQUESTED,
    EV_REPORTERS_TOLD,
    EV_SUSPICION_REPORTED,
    EV_SUSPICION_TO_REPORT,
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
                     due: Clock | None, on_suspicion: bool = False) -> int:
    from lti_tool.notifications.service import send_email
    from lti_tool.roles.service import reporters

    sent = 0
    assignment = assignment_name(incident.placement)
    for person in reporters(incident.platform_id):
        if person.id == incident.learner_id or not person.email:
            continue
        name = incident.learner.display_name
        subject = (gettext("Suspected malpractice to report to the awarding body: %(name)s",
                           name=name) if on_suspicion else
                   gettext("Report to the awarding body needed: %(name)s", name=name)
                   if requested_by is None else
                   gettext("%(requester)s asks you to send a report to the awarding body: "
                           "%(name)s", requester=requested_by.display_name, name=name))
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


def tell_reporters_of_suspicion(incident: Incident, policy: Policy,
                                at: datetime | None = None) -> bool:
    """Called when a case is raised: if the awarding body of its course is told on
    suspicion, email the reporters and queue the report (from now). Returns whether it
    was queued."""
    if not reported_on_suspicion(incident, policy):
        return False
    at = at or utcnow()
    due = suspicion_clock(incident, policy, at, at)
    sent = _email_reporters(incident, requested_by=None, due=due, on_suspicion=True)
    append_event(incident, EV_SUSPICION_TO_REPORT, None, {"emailed": sent}, at)
    return True


def record_suspicion_reported(incident: Incident, actor: Person, *, notes: str,
                              done_on: date, at: datetime | None = None) -> None:
    """The reporting team records that the suspicion was reported (the case goes on)."""
    from lti_tool.cases.errors import IncidentConflict, IncidentError

    lock_incident(incident)
    kinds = set(db.session.scalars(sa.select(IncidentEvent.kind).where(
        IncidentEvent.incident_id == incident.id,
        IncidentEvent.kind.in_((EV_SUSPICION_TO_REPORT, EV_SUSPICION_REPORTED)))))
    if EV_SUSPICION_TO_REPORT not in kinds or EV_SUSPICION_REPORTED in kinds:
        raise IncidentConflict("no_report_due", gettext("This case has no report to record."))
    if not notes.strip():
        raise IncidentError("notes", gettext("Enter how and to whom it was reported."))
    if done_on > utcnow().date():
        raise IncidentError("done_on", gettext("The date cannot be in the future."))
    append_event(incident, EV_SUSPICION_REPORTED, actor,
                 {"notes": notes.strip(), "done_on": done_on.isoformat()}, at or utcnow())


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
    on_suspicion: bool = False  # reported when raised, before any decision

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
    told = (sa.select(IncidentEvent.incident_id, IncidentEvent.at)
            .where(IncidentEvent.kind == EV_SUSPICION_TO_REPORT).subquery())
    done = sa.select(IncidentEvent.incident_id).where(
        IncidentEvent.kind == EV_SUSPICION_REPORTED)
    suspected: dict[int, datetime] = {}
    raised: list[Incident] = []
    for case, told_at in db.session.execute(
            sa.select(Incident, told.c.at).join(told, told.c.incident_id == Incident.id)
            .where(Incident.platform_id == platform_id, Incident.id.not_in(done))
            .options(selectinload(Incident.learner), selectinload(Incident.course),
                     selectinload(Incident.placement))
            .order_by(told.c.at, Incident.id)):
        suspected[case.id] = told_at
        policies[case.id] = case_policy(case)
        raised.append(case)
    cases = [c for c in cases if c.id not in suspected] + raised
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
                      suspicion_clock(c, policies[c.id], suspected[c.id], now)
                      if c.id in suspected else
                      next((k for k in case_clocks(c, policies[c.id], now=now)
                            if k.step == "report"), None),
                      asked.get(c.id, []), c.id in suspected) for c in cases]


def describe_event(kind: str, data: dict[str, object]) -> str | None:
    """A reporting step in plain English (None if ``kind`` is not one)."""
    emailed = data.get("emailed", 0)
    if kind == EV_REPORTERS_TOLD:
        return gettext("The case must be reported to the awarding body: the reporting team "
                       "(ALS and quality lead) was emailed (%(count)s people).", count=emailed)
    if kind == EV_SUSPICION_TO_REPORT:
        return gettext("The awarding body must be told of the suspicion now: the reporting "
                       "team (ALS and quality lead) was emailed (%(count)s people).",
                       count=emailed)
    if kind == EV_SUSPICION_REPORTED:
        return gettext("Suspicion reported to the awarding body on %(date)s: %(notes)s",
                       date=data.get("done_on"), notes=data.get("notes", ""))
    if kind == EV_REPORT_REQUESTED:
        return gettext("Asked the reporting team to send the report (%(count)s people "
                       "emailed).", count=emailed)
    return None
