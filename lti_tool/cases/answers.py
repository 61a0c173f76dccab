"""The learner's answer: single-use emailed links, answering in Moodle or by link, and the
learner's own list of cases."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from lti_tool.cases.errors import IncidentConflict, IncidentError, LinkRefused
from lti_tool.cases.events import append_event, lock_incident
from lti_tool.cases.evidence import check_file
from lti_tool.cases.letters import assignment_name
from lti_tool.cases.models import (
    ANSWERED,
    AWAITING_ANSWER,
    EV_ANSWER_FILE_ADDED,
    EV_ANSWERED,
    EV_DECLINED_TO_ANSWER,
    FILE_FOR_ANSWER,
    UNDECIDED_STATES,
    AnswerDraft,
    AnswerLink,
    Incident,
    IncidentAnswer,
    LearnerFile,
)
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.gradesync.service import repost_declaration_grades
from lti_tool.people.models import Person

_LINK_SALT = "aiu-incident-answer"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_LINK_SALT)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def answer_url(token: str) -> str:
    return f"{current_app.config['BASE_URL']}/learner/answer/{token}"


def new_link(incident: Incident, at: datetime) -> tuple[str, AnswerLink]:
    raw = secrets.token_urlsafe(32)
    link = AnswerLink(incident_id=incident.id, person_id=incident.learner_id,
                      token_hash=_hash(raw), created_at=at,
                      expires_at=at + timedelta(
                          hours=float(current_app.config["INCIDENT_ANSWER_LINK_HOURS"])))
    db.session.add(link)
    db.session.flush()
    return _serializer().dumps(raw), link


def waiting_on_learner(person: Person) -> list[tuple[Incident, str]]:
    """The learner's undecided incidents (questions to answer, answers being reviewed), with
    the assignment each concerns, oldest first, for their own page."""
    found = db.session.scalars(
        sa.select(Incident).where(Incident.learner_id == person.id,
                                  Incident.state.in_(UNDECIDED_STATES))
        .options(selectinload(Incident.placement), selectinload(Incident.course))
        .order_by(Incident.raised_at, Incident.id))
    return [(incident, assignment_name(incident.placement)) for incident in found]


def learner_cases(person: Person) -> list[Incident]:
    """Every incident of the learner, newest first (for their own pages)."""
    return list(db.session.scalars(
        sa.select(Incident).where(Incident.learner_id == person.id)
        .options(selectinload(Incident.placement), selectinload(Incident.course))
        .order_by(Incident.raised_at.desc(), Incident.id.desc())))


def incidents_of(learner: Person) -> list[Incident]:
    """All the learner's incidents on the platform, newest first."""
    return learner_cases(learner)


def link_for_token(token: str) -> AnswerLink:
    """The answer link a token names, if it can still be used; else :class:`LinkRefused`."""
    hours = float(current_app.config["INCIDENT_ANSWER_LINK_HOURS"])
    try:
        raw = _serializer().loads(token, max_age=int(hours * 3600))
    except SignatureExpired as exc:
        raise _expired() from exc
    except BadSignature as exc:
        raise LinkRefused("answer_link_invalid", gettext("This link is not valid. Open the AI use "
                                                         "activity in Moodle to "
                                                         "answer."), status=404) from exc
    link = db.session.scalar(sa.select(AnswerLink).where(AnswerLink.token_hash == _hash(raw)))
    if link is None:
        raise LinkRefused("answer_link_invalid", gettext("This link is not valid. Open the AI use "
                                                         "activity in Moodle to "
                                                         "answer."), status=404)
    if link.used_at is not None:
        raise LinkRefused("answer_link_used", gettext("This link has already been used: your "
                                                      "answer was received. Each link works "
                                                      "once."), status=410)
    if link.expires_at < utcnow():
        raise _expired()
    return link


def _expired() -> LinkRefused:
    return LinkRefused("answer_link_expired", gettext("This link has expired. Open the AI use "
                                                      "activity in Moodle to answer, or ask your "
                                                      "tutor."), status=410)


def answer(incident: Incident, learner: Person, text: str, *, via: str,
           at: datetime | None = None) -> IncidentAnswer:
    """Save the learner's answer; every answer link of the incident stops working.

    Raises :class:`IncidentConflict` if the question was already answered or closed.
    """
    text = text.strip()
    if not text:
        raise IncidentError("answer", gettext("Write your answer."))
    if len(text) > 10000:
        raise IncidentError("answer", gettext("Your answer must be 10,000 characters or fewer."))
    _own_open_question(incident, learner)
    at = at or utcnow()
    reply = IncidentAnswer(incident_id=incident.id, person_id=learner.id, text=text, via=via,
                           answered_at=at)
    try:
        with db.session.begin_nested():
            db.session.add(reply)
    except IntegrityError as exc:
        raise IncidentConflict("already_answered", gettext("This question has already been "
                                                           "answered.")) from exc
    db.session.execute(sa.update(AnswerLink).where(AnswerLink.incident_id == incident.id,
                                                   AnswerLink.used_at.is_(None))
                       .values(used_at=at).execution_options(synchronize_session=False))
    incident.state = ANSWERED
    incident.answered_at = at
    append_event(incident, EV_ANSWERED, learner, {"answer_id": reply.id, "via": via,
                                                  "answer": text}, at)
    raiser = incident.raised_by
    if raiser.email:
        from lti_tool.notifications.service import send_email

        assignment = assignment_name(incident.placement)
        send_email(raiser.email, gettext("%(name)s has answered your question about "
                                         "%(assignment)s", name=learner.display_name,
                                         assignment=assignment), "incident_answered",
                   marker=raiser, learner=learner, assignment=assignment,
                   course=incident.course, incident=incident)
    db.session.execute(sa.delete(AnswerDraft).where(AnswerDraft.incident_id == incident.id))
    repost_declaration_grades(learner, [incident.placement], at=at)
    return reply


def _own_open_question(incident: Incident, learner: Person) -> None:
    if incident.learner_id != learner.id:
        raise LinkRefused("not_your_question", gettext("This question was sent to someone else."),
                          status=403)
    lock_incident(incident)
    if incident.state != AWAITING_ANSWER:
        raise IncidentConflict("already_answered", gettext("This question has already been "
                                                           "answered or closed."))


def draft_of(incident: Incident) -> AnswerDraft | None:
    return db.session.get(AnswerDraft, incident.id)


def save_draft(incident: Incident, learner: Person, text: str,
               at: datetime | None = None) -> AnswerDraft:
    """Keep the learner's unsent answer (saved over each time; staff never see it)."""
    if len(text) > 10000:
        raise IncidentError("answer", gettext("Your answer must be 10,000 characters or fewer."))
    _own_open_question(incident, learner)
    draft = draft_of(incident)
    if draft is None:
        draft = AnswerDraft(incident_id=incident.id, person_id=learner.id)
        db.session.add(draft)
    draft.text = text.strip()
    draft.updated_at = at or utcnow()
    db.session.flush()
    return draft


def add_learner_file(incident: Incident, learner: Person, *, purpose: str, filename: str,
                     content: bytes, appeal_id: int | None = None,
                     at: datetime | None = None) -> LearnerFile:
    """Keep a file the learner sends with their answer or appeal, checked like evidence
    (type by name and content, size). Files for the answer can be added only while the
    question is open; staff see them once the answer is sent."""
    checked = check_file(filename, content, "file")
    if purpose == FILE_FOR_ANSWER:
        _own_open_question(incident, learner)
    at = at or utcnow()
    row = LearnerFile(incident_id=incident.id, person_id=learner.id, purpose=purpose,
                      appeal_id=appeal_id, filename=checked.filename,
                      content_type=checked.content_type, size=checked.size,
                      sha256=checked.sha256, content=content, added_at=at)
    db.session.add(row)
    db.session.flush()
    append_event(incident, EV_ANSWER_FILE_ADDED, learner, {
        "file_id": row.id, "purpose": purpose, "filename": row.filename,
        "sha256": row.sha256, "size": row.size}, at)
    return row


def learner_files(incident: Incident, purpose: str) -> list[LearnerFile]:
    return list(db.session.scalars(sa.select(LearnerFile).where(
        LearnerFile.incident_id == incident.id, LearnerFile.purpose == purpose)
        .order_by(LearnerFile.id)))


def learner_file_content(row: LearnerFile) -> bytes:
    return bytes(db.session.scalar(sa.select(LearnerFile.content).where(
        LearnerFile.id == row.id)) or b"")


def decline_to_answer(incident: Incident, learner: Person,
                      at: datetime | None = None) -> Incident:
    """The learner says they will not answer: a decision may then be made without their
    answer (before the deadline too). They can still answer until it is decided."""
    _own_open_question(incident, learner)
    if incident.declined_at is None:
        at = at or utcnow()
        incident.declined_at = at
        append_event(incident, EV_DECLINED_TO_ANSWER, learner, {}, at)
    return incident


def answer_of(incident: Incident) -> IncidentAnswer | None:
    return db.session.scalar(sa.select(IncidentAnswer).where(
        IncidentAnswer.incident_id == incident.id))
