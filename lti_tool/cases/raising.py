"""Raising a case: validate everything first, record it with its evidence and planned
checks, ask the learner; reminders for learners who have not answered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from lti_tool.cases.access import checkers, learner_in_course
from lti_tool.cases.answers import answer_url, new_link
from lti_tool.cases.checks import add_planned_check
from lti_tool.cases.errors import IncidentError
from lti_tool.cases.events import append_event
from lti_tool.cases.evidence import EvidenceInput, check_evidence, store_evidence
from lti_tool.cases.ledger import ensure_standing
from lti_tool.cases.letters import assignment_name, learner_email
from lti_tool.cases.models import (
    AWAITING_ANSWER,
    EV_EVIDENCE_ADDED,
    EV_LEARNER_ASKED,
    EV_RAISED,
    EV_REMINDER_SENT,
    EVIDENCE_DETECTION,
    SOURCE_CHECKER,
    SOURCE_OBSERVATION,
    EvidenceItem,
    Incident,
)
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.gradesync.service import repost_declaration_grades
from lti_tool.people.models import Course, Person, Placement
from lti_tool.policy.service import Policy


def raise_incident(*, placement: Placement, learner: Person, raised_by: Person, source: str,
                   observations: str, checker: str | None = None, checker_result: str = "",
                   evidence: Sequence[EvidenceInput] = (), planned_checks: Sequence[str] = (),
                   policy: Policy, at: datetime | None = None) -> Incident:
    """Record a concern about the learner's work in ``placement`` and ask the learner, by
    email, how this could have occurred.

    ``source`` is ``"checker"`` (``checker`` must be one of :func:`checkers`, with its score
    or report reference in ``checker_result``: stored as one piece of evidence needing human
    judgement) or ``"observation"`` (the marker's own). Everything is validated before
    anything is written; raises :class:`IncidentError` for the first problem.
    """
    at = at or utcnow()
    course = db.session.get(Course, placement.course_id)
    assert course is not None
    if learner.platform_id != course.platform_id or not learner_in_course(learner, course):
        raise IncidentError("source", "This learner is not a member of this course.")
    if learner.id == raised_by.id:
        raise IncidentError("source", "You cannot raise an incident about yourself.")
    observations = observations.strip()
    checker_result = " ".join(checker_result.split())
    if source == SOURCE_CHECKER:
        if checker not in checkers():
            raise IncidentError("source", "Choose one of the AI-checking systems authorised "
                                "by IT, or your own observation.")
        if not checker_result:
            raise IncidentError("checker_result", "Enter the system's score or report "
                                "reference.")
    elif source == SOURCE_OBSERVATION:
        checker, checker_result = None, ""
    else:
        raise IncidentError("source", "Choose where the concern came from.")
    if not observations:
        raise IncidentError("observations", "Describe what you observed in the work.")
    methods = [str(m) for m in policy["authenticity_checks"]]
    if any(m not in methods for m in planned_checks):
        raise IncidentError("planned_checks", "Choose checks from the policy's list.")
    files = check_evidence(evidence)

    ensure_standing(learner)
    incident = Incident(platform_id=course.platform_id, learner_id=learner.id,
                        course_id=course.id, placement_id=placement.id,
                        raised_by_id=raised_by.id, raised_at=at, source=source,
                        checker=checker, checker_result=checker_result,
                        observations=observations, state=AWAITING_ANSWER, last_seq=0)
    db.session.add(incident)
    db.session.flush()
    append_event(incident, EV_RAISED, raised_by, {
        "placement_id": placement.id, "course_id": course.id, "source": source,
        "checker": checker, "checker_result": checker_result,
        "observations": observations}, at)
    if source == SOURCE_CHECKER:
        detection = EvidenceItem(
            incident_id=incident.id, kind=EVIDENCE_DETECTION,
            label=f"{checker} result (needs human judgement; not a verdict)",
            text=checker_result, added_by_id=raised_by.id, added_at=at)
        db.session.add(detection)
        db.session.flush()
        append_event(incident, EV_EVIDENCE_ADDED, raised_by, {
            "evidence_id": detection.id, "kind": EVIDENCE_DETECTION, "label": detection.label,
            "text": checker_result}, at)
    for item, checked in zip(evidence, files, strict=True):
        store_evidence(incident, item, checked, raised_by, at)
    for method in dict.fromkeys(planned_checks):
        add_planned_check(incident, raised_by, method, None, "", at)
    ask_learner(incident, policy, at, reminder=False)
    repost_declaration_grades(learner, [placement], at=at)
    return incident


def ask_learner(incident: Incident, policy: Policy, at: datetime, *, reminder: bool) -> None:
    from lti_tool.notifications.service import send_email

    to = learner_email(incident)
    token, link = new_link(incident, at)
    assignment = assignment_name(incident.placement)
    emailed = False
    if to:
        subject = (("Reminder: " if reminder else "") +
                   f"A question about your work for {assignment}")
        send_email(to, subject, "incident_question", learner=incident.learner,
                   assignment=assignment, course=incident.course, link=answer_url(token),
                   expires_at=link.expires_at, reminder=reminder, policy=policy,
                   raised_at=incident.raised_at)
        emailed = True
    append_event(incident, EV_REMINDER_SENT if reminder else EV_LEARNER_ASKED, None, {
        "emailed": emailed, "to": to or None, "link_id": link.id,
        "link_expires_at": link.expires_at.isoformat()}, at)


def send_due_reminders(now: datetime | None = None) -> int:
    """Remind learners who have not answered ``INCIDENT_REMINDER_HOURS`` after the question
    (once per incident; a new link). Safe to call from several workers at once: each
    incident is claimed by an atomic update. Flushes; the caller commits. Returns how many
    reminders were queued."""
    from lti_tool.policy.service import current_or_bundled

    now = now or utcnow()
    cutoff = now - timedelta(hours=float(current_app.config["INCIDENT_REMINDER_HOURS"]))
    due = list(db.session.scalars(sa.select(Incident.id).where(
        Incident.state == AWAITING_ANSWER, Incident.reminder_sent_at.is_(None),
        Incident.raised_at <= cutoff).order_by(Incident.id).limit(200)))
    sent = 0
    for incident_id in due:
        claimed = db.session.execute(
            sa.update(Incident).where(Incident.id == incident_id,
                                      Incident.state == AWAITING_ANSWER,
                                      Incident.reminder_sent_at.is_(None))
            .values(reminder_sent_at=now).execution_options(synchronize_session=False))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        incident = db.session.get(Incident, incident_id, populate_existing=True)
        assert incident is not None
        ask_learner(incident, current_or_bundled(), now, reminder=True)
        sent += 1
    return sent
