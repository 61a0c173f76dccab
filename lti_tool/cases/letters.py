"""What the learner is sent and where: their address, the assignment's name, the decision
letter and the appeal's outcome letter (in the tool, by email, as PDF), and the signed
link to their cases."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext, lazy_gettext
from itsdangerous import BadSignature, URLSafeTimedSerializer

from lti_tool.cases.ledger import outcome_label, stage_meaning
from lti_tool.cases.models import (
    APPEAL_UPHELD,
    EV_DECIDED,
    EV_DECISION_WITHDRAWN,
    NOT_UPHELD,
    POOR_PRACTICE,
    UPHELD,
    Appeal,
    Incident,
    IncidentEvent,
)
from lti_tool.extensions import db
from lti_tool.people.models import CourseMember, Person, Placement
from lti_tool.policy.service import Policy


def learner_email(incident: Incident) -> str:
    """Where to email the learner: their launch email, else Names and Roles'; "" when
    Moodle gave no single valid address (they are asked in the tool only)."""

    return address_of(incident.learner, incident.course_id)


def address_of(learner: Person, course_id: int) -> str:
    """:func:`learner_email` for a learner in a course (before a case exists)."""
    from lti_tool.notifications.addresses import usable_address

    if learner.email:
        return usable_address(learner.email)
    found = db.session.scalar(sa.select(CourseMember.email).where(
        CourseMember.course_id == course_id, CourseMember.sub == learner.sub))
    return usable_address(found)


def assignment_name(placement: Placement) -> str:
    """The assignment a placement covers, as its teacher named it."""
    from lti_tool.declarations.service import effective_settings

    settings = effective_settings(placement)
    return settings.assignment_name or settings.title or placement.display_name


@dataclass(frozen=True)
class Letter:
    """A letter to the learner (a decision or an appeal's outcome): shown in the tool,
    emailed and available as PDF, all from the same sections."""

    title: str
    learner: str
    dated: datetime
    sections: list[tuple[str, str]]  # (heading, text)

    def as_text(self) -> str:
        return "\n\n".join(f"{heading}\n{text}" for heading, text in self.sections)


def _day(moment: datetime | str | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.strftime("%d %B %Y").lstrip("0")


def latest_decision(incident: Incident) -> dict[str, Any] | None:
    """The data of the case's decision in force (the last one recorded, unless withdrawn
    since)."""
    kinds = (EV_DECIDED, EV_DECISION_WITHDRAWN)
    row = db.session.execute(
        sa.select(IncidentEvent.kind, IncidentEvent.data, IncidentEvent.at)
        .where(IncidentEvent.incident_id == incident.id, IncidentEvent.kind.in_(kinds))
        .order_by(IncidentEvent.seq.desc()).limit(1)).first()
    if row is None or row.kind != EV_DECIDED:
        return None
    return {**json.loads(row.data), "at": row.at}


def outcome_words(data: dict[str, Any], policy: Policy) -> str:
    """What the finding means for the learner, in the policy's words where it has them."""
    outcome = data.get("outcome")
    if outcome == UPHELD:
        stage = int(data.get("stage") or 0)
        action = data.get("action_label") or outcome_label(policy.rules, data.get("action"))
        # The ledger the decision counted in: "<policy>/<qualification>" when per qualification.
        scope = (gettext("in your qualification") if "/" in str(data.get("ledger") or "")
                 else gettext("across all your courses"))
        if data.get("repeated"):
            return gettext("This is your Stage %(stage)s again (repeated misuse) under the "
                           "Learner AI Usage Policy, %(scope)s. The policy says: "
                           "\"%(meaning)s\" What happens now: %(action)s.", stage=stage,
                           scope=scope, meaning=stage_meaning(policy, stage), action=action)
        return gettext("This is your Stage %(stage)s under the Learner AI Usage Policy, "
                       "%(scope)s. The policy says: \"%(meaning)s\" What happens now: "
                       "%(action)s.", stage=stage, scope=scope,
                       meaning=stage_meaning(policy, stage), action=action)
    if outcome == POOR_PRACTICE:
        return gettext("This is poor academic practice: an educational outcome. It does not "
                       "count towards any stage of the policy. Your tutor will advise you on "
                       "how to use AI within the policy in future work.")
    return gettext("No further action will be taken; it does not count towards any stage.")


def decision_letter(incident: Incident, policy: Policy) -> Letter | None:
    """The letter for the decision in force, from the decision's own fields (finding,
    evidence relied on, reasons, outcome, what happens next, how to appeal and by when)."""
    from lti_tool.declarations.service import effective_settings

    data = latest_decision(incident)
    if data is None:
        return None
    finding = {UPHELD: gettext("upheld"), NOT_UPHELD: gettext("not upheld"),
               POOR_PRACTICE: gettext("poor academic practice")}.get(data.get("outcome") or "",
                                                                     "")
    sections = [
        (gettext("The decision"), gettext(
            "The concern about your work for %(assignment)s (%(course)s) has been decided: "
            "%(finding)s.", assignment=assignment_name(incident.placement),
            course=incident.course.display_name, finding=finding)),
    ]
    if data.get("relied_on"):
        sections.append((gettext("The evidence relied on"), "; ".join(data["relied_on"]) + "."))
    if data.get("account_reasons"):
        sections.append((gettext("Your account"), data["account_reasons"]))
    if data.get("without_answer_reason"):
        sections.append((gettext("Decided without your answer"), data["without_answer_reason"]))
    sections.append((gettext("Why this outcome"), str(data.get("reasons") or "")))
    sections.append((gettext("What happens next"), outcome_words(data, policy)))
    if data.get("outcome") != NOT_UPHELD and data.get("appeal_until"):
        route = policy.case_process.next_route(
            effective_settings(incident.placement).qualification)
        sections.append((gettext("How to appeal"), gettext(
            "You can appeal until %(date)s in the AI use activity (My AI-use cases), on these "
            "grounds: the procedure was not followed, new evidence, bias, or the outcome is out "
            "of proportion. Someone new to your case will review it. %(route)s",
            date=_day(data["appeal_until"]), route=route)))
    return Letter(gettext("Decision on your AI-use case"), incident.learner.display_name,
                  data["at"], sections)


def appeal_letter(appeal: Appeal, policy: Policy) -> Letter:
    """The letter telling the learner their appeal's result, naming the next route (the
    awarding body's appeals procedure, from the policy data)."""
    from lti_tool.declarations.service import effective_settings

    incident = appeal.incident
    route = policy.case_process.next_route(
        effective_settings(incident.placement).qualification)
    if appeal.state == APPEAL_UPHELD:
        if appeal.result_finding:
            result = gettext("Your appeal has been upheld. The earlier decision is withdrawn "
                             "and replaced: %(finding)s. Your stage across all your courses "
                             "has been worked out again.",
                             finding=FINDING_WORDS.get(appeal.result_finding, ""))
        else:
            result = gettext("Your appeal has been upheld. The earlier decision is withdrawn; "
                             "the case will be decided again by someone new to it. Your stage "
                             "across all your courses has been worked out again.")
    else:
        result = gettext("Your appeal has been dismissed: the decision stands.")
    assert appeal.reviewed_at is not None
    return Letter(gettext("The outcome of your appeal"), incident.learner.display_name,
                  appeal.reviewed_at,
                  [(gettext("The outcome"), result),
                   (gettext("The reviewer's reasons"), appeal.reasons),
                   (gettext("If you are still not satisfied"), route)])


FINDING_WORDS = {NOT_UPHELD: lazy_gettext("not upheld"),
                 POOR_PRACTICE: lazy_gettext(
                     "poor academic practice (it does not count towards a stage)")}


def letter_pdf(letter: Letter) -> bytes:
    """The letter as a PDF document."""
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=letter.title,
                            leftMargin=20 * mm, rightMargin=20 * mm)

    def para(text: str, style: str = "BodyText") -> Paragraph:
        return Paragraph(escape(text).replace("\n", "<br/>"), styles[style])

    story: list[Any] = [para(letter.title, "Title"),
                        para(gettext("To %(learner)s, %(date)s", learner=letter.learner,
                                     date=_day(letter.dated))), Spacer(1, 4 * mm)]
    for heading, text in letter.sections:
        story += [para(heading, "Heading3"), para(text)]
    doc.build(story)
    return buffer.getvalue()


def tell_learner_decision(incident: Incident, policy: Policy, data: dict[str, Any]) -> None:
    from lti_tool.notifications.service import send_email

    to = learner_email(incident)
    if not to:
        return
    assignment = assignment_name(incident.placement)
    stage = data.get("stage")
    outcome = policy.rules.outcome(data.get("action") or "")
    send_email(to, gettext("The outcome of the question about your work for %(assignment)s",
                           assignment=assignment),
               "incident_decision", learner=incident.learner, assignment=assignment,
               course=incident.course, upheld=data["outcome"] == UPHELD, stage=stage,
               action=data.get("action"), action_label=outcome.label if outcome else "",
               happens_next=outcome.learner_next if outcome else "",
               stage_text=stage_meaning(policy, stage) if stage else "", policy=policy,
               repeated=bool(data.get("repeated")), outcome=data["outcome"],
               letter=decision_letter(incident, policy), cases_url=cases_url(incident.learner))


def tell_learner_appeal(appeal: Appeal, policy: Policy) -> None:
    from lti_tool.notifications.service import send_email

    to = learner_email(appeal.incident)
    if to:
        send_email(to, gettext("The outcome of your appeal about %(assignment)s",
                               assignment=assignment_name(appeal.incident.placement)),
                   "appeal_outcome",
                   learner=appeal.incident.learner, letter=appeal_letter(appeal, policy),
                   cases_url=cases_url(appeal.incident.learner))


_CASES_SALT = "aiu-cases-view"


def _cases_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_CASES_SALT)


def cases_url(learner: Person) -> str:
    """A link to the learner's My AI-use cases page for their emails: signed, read-only,
    valid for ``CASE_LINK_DAYS`` (acting on a case needs a Moodle launch)."""
    token = _cases_serializer().dumps({"p": learner.id})
    return f"{current_app.config['BASE_URL']}/learner/cases/view/{token}"


def person_for_cases_token(token: str) -> int | None:
    """The learner a :func:`cases_url` token names, or None if it is invalid or expired."""
    days = float(current_app.config.get("CASE_LINK_DAYS", 30))
    try:
        data = _cases_serializer().loads(token, max_age=int(days * 86400))
    except BadSignature:  # also expired
        return None
    return int(data["p"]) if isinstance(data, dict) and "p" in data else None
