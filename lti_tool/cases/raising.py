"""Raising a case: validate everything first, record it with its evidence and planned
checks, ask the learner; reminders for learners who have not answered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext

from lti_tool.cases.access import checkers, learner_in_course
from lti_tool.cases.answers import answer_url, new_link
from lti_tool.cases.checks import add_planned_check
from lti_tool.cases.errors import IncidentError
from lti_tool.cases.events import append_event
from lti_tool.cases.evidence import (
    CheckedFile,
    EvidenceInput,
    check_evidence,
    check_withholding,
    evidence_of,
    learner_summary,
    store_evidence,
)
from lti_tool.cases.ledger import ensure_standing, stage_meaning
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
from lti_tool.cases.standing import placement_ledger, standing_in
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.gradesync.service import repost_declaration_grades
from lti_tool.people.models import Course, Person, Placement
from lti_tool.policy.calendar import add_working_days
from lti_tool.policy.service import Policy


@dataclass(frozen=True)
class Concern:
    """A concern checked and ready to record (see :func:`check_concern`)."""

    placement: Placement
    course: Course
    learner: Person
    raised_by: Person
    source: str
    checker: str | None
    checker_result: str
    observations: str
    evidence: Sequence[EvidenceInput]
    files: list[CheckedFile | None]
    planned_checks: Sequence[str]
    detection_withheld: bool
    detection_withheld_reason: str

    def disclosed(self) -> list[str]:
        """The evidence the learner will be shown, as they will read it."""
        shown = []
        if self.source == SOURCE_CHECKER and not self.detection_withheld:
            shown.append(gettext("%(checker)s reported: %(result)s. This is one piece of "
                                 "evidence that needs human judgement; it is not a verdict.",
                                 checker=self.checker, result=self.checker_result))
        for item, checked in zip(self.evidence, self.files, strict=True):
            if not item.withheld:
                label = " ".join(item.label.split()) or (checked.filename if checked
                                                         else gettext("Further evidence"))
                detail = (gettext("the file %(filename)s", filename=checked.filename) if checked
                          else item.text.strip())
                shown.append(f"{label}: {detail}" if detail else label)
        return shown


def check_concern(*, placement: Placement, learner: Person, raised_by: Person, source: str,
                  observations: str, checker: str | None = None, checker_result: str = "",
                  evidence: Sequence[EvidenceInput] = (), planned_checks: Sequence[str] = (),
                  detection_withheld: bool = False, detection_withheld_reason: str = "",
                  policy: Policy) -> Concern:
    """Check everything a new case needs, writing nothing; raises :class:`IncidentError`
    for the first problem (its ``field`` names the form field)."""
    course = db.session.get(Course, placement.course_id)
    assert course is not None
    if learner.platform_id != course.platform_id or not learner_in_course(learner, course):
        raise IncidentError("source", gettext("This learner is not a member of this course."))
    if learner.id == raised_by.id:
        raise IncidentError("source", gettext("You cannot raise an incident about yourself."))
    observations = observations.strip()
    checker_result = " ".join(checker_result.split())
    if source == SOURCE_CHECKER:
        if checker not in checkers():
            raise IncidentError("source", gettext("Choose one of the AI-checking systems "
                                                  "authorised by IT, or your own observation."))
        if not checker_result:
            raise IncidentError("checker_result", gettext("Enter the system's score or report "
                                                          "reference."))
        check_withholding(detection_withheld, detection_withheld_reason, "detection_withheld")
    elif source == SOURCE_OBSERVATION:
        checker, checker_result, detection_withheld = None, "", False
    else:
        raise IncidentError("source", gettext("Choose where the concern came from."))
    if not observations:
        raise IncidentError("observations", gettext("Describe what you observed in the work."))
    methods = [str(m) for m in policy["authenticity_checks"]]
    if any(m not in methods for m in planned_checks):
        raise IncidentError("planned_checks", gettext("Choose checks from the policy's list."))
    files = check_evidence(evidence)
    return Concern(placement, course, learner, raised_by, source, checker, checker_result,
                   observations, evidence, files, planned_checks, detection_withheld,
                   detection_withheld_reason.strip() if detection_withheld else "")


def raise_incident(*, policy: Policy, at: datetime | None = None,
                   **concern: Any) -> Incident:
    """Record a concern about the learner's work in ``placement`` and ask the learner, by
    email, how this could have occurred, with the evidence disclosed to them and the date
    their answer is due (``case_process.response_working_days`` of the policy data).

    Takes :func:`check_concern`'s arguments. ``source`` is ``"checker"`` (``checker`` must
    be one of :func:`checkers`, with its score or report reference in ``checker_result``:
    stored as one piece of evidence needing human judgement) or ``"observation"`` (the
    marker's own). Everything is validated before anything is written.
    """
    checked = check_concern(policy=policy, **concern)
    at = at or utcnow()
    learner, raised_by, course = checked.learner, checked.raised_by, checked.course
    ensure_standing(learner)
    incident = Incident(platform_id=course.platform_id, learner_id=learner.id,
                        course_id=course.id, placement_id=checked.placement.id,
                        raised_by_id=raised_by.id, raised_at=at, source=checked.source,
                        checker=checked.checker, checker_result=checked.checker_result,
                        observations=checked.observations, state=AWAITING_ANSWER, last_seq=0,
                        answer_due_at=answer_due(at, policy))
    db.session.add(incident)
    db.session.flush()
    append_event(incident, EV_RAISED, raised_by, {
        "placement_id": checked.placement.id, "course_id": course.id,
        "source": checked.source, "checker": checked.checker,
        "checker_result": checked.checker_result, "observations": checked.observations,
        "answer_due_at": incident.answer_due_at}, at)
    if checked.source == SOURCE_CHECKER:
        detection = EvidenceItem(
            incident_id=incident.id, kind=EVIDENCE_DETECTION,
            label=f"{checked.checker} result (needs human judgement; not a verdict)",
            text=checked.checker_result, added_by_id=raised_by.id, added_at=at,
            disclosed=not checked.detection_withheld,
            withheld_reason=checked.detection_withheld_reason)
        db.session.add(detection)
        db.session.flush()
        append_event(incident, EV_EVIDENCE_ADDED, raised_by, {
            "evidence_id": detection.id, "kind": EVIDENCE_DETECTION, "label": detection.label,
            "text": checked.checker_result, "disclosed": detection.disclosed,
            "withheld_reason": detection.withheld_reason or None}, at)
    for item, file in zip(checked.evidence, checked.files, strict=True):
        store_evidence(incident, item, file, raised_by, at)
    for method in dict.fromkeys(checked.planned_checks):
        add_planned_check(incident, raised_by, method, None, "", at)
    ask_learner(incident, policy, at, reminder=False)
    from lti_tool.cases.reporting import tell_reporters_of_suspicion

    tell_reporters_of_suspicion(incident, policy, at)
    repost_declaration_grades(learner, [checked.placement], at=at)
    return incident


def answer_due(raised_at: datetime, policy: Policy) -> datetime:
    """The end of the learner's response window: ``response_working_days`` working days
    (Monday to Friday) after the case was raised, at the same time of day."""
    return add_working_days(raised_at, policy.case_process.response_working_days)


def question_context(*, learner: Person, placement: Placement, course: Course,
                     raised_at: datetime, answer_due_at: datetime | None, observations: str,
                     disclosed: list[str], policy: Policy) -> dict[str, Any]:
    """What the question email tells the learner (the email and the marker's preview):
    the allegation, the disclosed evidence, the possible consequences (the policy's text
    for the stage this would be), how to get support, the deadline and the appeals
    procedure."""
    from lti_tool.declarations.service import effective_settings

    ledger = placement_ledger(placement)
    current = standing_in(learner, ledger)
    next_stage = current.next_stage
    process = policy.case_process
    return {"learner": learner, "assignment": assignment_name(placement), "course": course,
            "raised_at": raised_at, "answer_due_at": answer_due_at,
            "observations": observations, "disclosed": disclosed, "policy": policy,
            "next_stage": next_stage, "stage_text": stage_meaning(ledger.policy, next_stage),
            "scope": current.learner_scope_text,
            "appeal_days": process.appeal_days,
            "next_route": process.next_route(effective_settings(placement).qualification)}


def preview_question(concern: Concern, policy: Policy, at: datetime | None = None) -> str:
    """The question email as the learner would receive it (the link is a placeholder)."""
    from flask import render_template

    at = at or utcnow()
    return render_template(
        "email/incident_question.txt", link=gettext("(a single-use link to answer)"),
        expires_at=at + timedelta(hours=float(
            current_app.config["INCIDENT_ANSWER_LINK_HOURS"])), reminder=False,
        **question_context(learner=concern.learner, placement=concern.placement,
                           course=concern.course, raised_at=at,
                           answer_due_at=answer_due(at, policy),
                           observations=concern.observations, disclosed=concern.disclosed(),
                           policy=policy))


def ask_learner(incident: Incident, policy: Policy, at: datetime, *, reminder: bool) -> None:
    from lti_tool.notifications.service import send_email

    to = learner_email(incident)
    token, link = new_link(incident, at)
    emailed = False
    if to:
        context = question_context(
            learner=incident.learner, placement=incident.placement, course=incident.course,
            raised_at=incident.raised_at, answer_due_at=incident.answer_due_at,
            observations=incident.observations,
            disclosed=[learner_summary(e) for e in evidence_of(incident, disclosed_only=True)],
            policy=policy)
        subject = (gettext("Reminder: A question about your work for %(assignment)s",
                           assignment=context["assignment"]) if reminder else
                   gettext("A question about your work for %(assignment)s",
                           assignment=context["assignment"]))
        send_email(to, subject, "incident_question", link=answer_url(token),
                   expires_at=link.expires_at, reminder=reminder, **context)
        emailed = True
    append_event(incident, EV_REMINDER_SENT if reminder else EV_LEARNER_ASKED, None, {
        "emailed": emailed, "to": to or None, "link_id": link.id,
        "link_expires_at": link.expires_at.isoformat()}, at)


def send_due_reminders(now: datetime | None = None) -> int:
    """Remind learners who have not answered ``INCIDENT_REMINDER_HOURS`` after the question
    (once per incident; a new link). Safe to call from several workers at once: each
    incident is claimed by an atomic update. Flushes; the caller commits. Returns how many
    reminders were queued."""
    from lti_tool.cases.standing import case_policy

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
        ask_learner(incident, case_policy(incident), now, reminder=True)
        sent += 1
    return sent
