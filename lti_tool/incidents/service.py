"""Incidents as the policy's "Misuse of AI" section sets them out.

A marker raises an incident (the detection source, observations, evidence, planned
authenticity checks); the learner is emailed and asked how this could have occurred; the
marker reads the answer and the checks and decides. *Not upheld* closes it without counting;
*upheld* gives it the learner's next stage across every course on the platform (upheld
incidents so far + 1, at most 3) and the policy's action for that stage.

Every step appends an :class:`~lti_tool.incidents.models.IncidentEvent` (and an audit event)
and updates the incident's projection in the same transaction. Functions here only flush;
the request (or the worker) commits. Rules broken by the input raise :class:`IncidentError`
naming the form field; steps no longer possible (decided, answered, a stage taken meanwhile)
raise :class:`IncidentConflict` or :class:`StageChanged`.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from lti_tool.audit import service as audit
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.incidents.models import (
    ACTION_MARKED_AND_ADVISED,
    ACTION_NEW_ASSIGNMENT,
    ACTION_PROFESSIONAL_DISCUSSION,
    ACTION_REPORT_TO_AWARDING_BODY,
    ANSWERED,
    AWAITING_ANSWER,
    CLOSED,
    EV_ANSWERED,
    EV_CHECK_PLANNED,
    EV_CHECK_RECORDED,
    EV_DECIDED,
    EV_DECISION_WITHDRAWN,
    EV_EVIDENCE_ADDED,
    EV_FOLLOW_UP_RECORDED,
    EV_LEARNER_ASKED,
    EV_NOTE_ADDED,
    EV_RAISED,
    EV_REMINDER_SENT,
    EVIDENCE_DETECTION,
    EVIDENCE_FILE,
    EVIDENCE_TEXT,
    FOLLOW_UP,
    NOT_UPHELD,
    OPEN_STATES,
    SOURCE_CHECKER,
    SOURCE_OBSERVATION,
    UNDECIDED_STATES,
    UPHELD,
    AnswerLink,
    AuthenticityCheck,
    EvidenceFile,
    EvidenceItem,
    Incident,
    IncidentAnswer,
    IncidentEvent,
    LearnerStanding,
    StageLedgerEntry,
)
from lti_tool.lti.exceptions import ToolError
from lti_tool.people.models import Course, CourseMember, CourseRole, Person, Placement
from lti_tool.policy.service import Policy

MAX_STAGE = 3

ACTION_LABELS = {
    ACTION_MARKED_AND_ADVISED: "Work marked; learner advised not to submit work in the same "
                               "way again",
    ACTION_PROFESSIONAL_DISCUSSION: "Professional discussion",
    ACTION_NEW_ASSIGNMENT: "New assignment",
    ACTION_REPORT_TO_AWARDING_BODY: "Report to the awarding body",
}
STAGE_2_ACTIONS = (ACTION_PROFESSIONAL_DISCUSSION, ACTION_NEW_ASSIGNMENT)

CHECK_OUTCOMES = {
    "supports": "Supports that the work is the learner's own",
    "concerns": "Raises concerns about authenticity",
    "inconclusive": "Inconclusive",
}
FOLLOW_UP_RESULTS = {
    2: {
        "satisfactory": "Completed: the learner showed the work is their own",
        "unsatisfactory": "Completed: concerns remain",
        "not_completed": "Not completed: the learner did not take part",
    },
    3: {"reported": "Reported to the awarding body"},
}

# Evidence files: extension -> (MIME type sent on download, label).
ALLOWED_FILES = {
    "pdf": ("application/pdf", "PDF"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             "Word (.docx)"),
    "txt": ("text/plain; charset=utf-8", "text"),
    "png": ("image/png", "PNG"),
    "jpg": ("image/jpeg", "JPEG"),
    "jpeg": ("image/jpeg", "JPEG"),
}

_LINK_SALT = "aiu-incident-answer"


class IncidentError(ValueError):
    """The input breaks a rule; ``field`` names the form field it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class IncidentConflict(ToolError):
    """The step is no longer possible (already decided, already answered...)."""

    status = 409
    title = "This has changed since you opened the page"


class StageChanged(IncidentConflict):
    """Another upheld incident was recorded for the learner meanwhile: the stage the marker
    saw is no longer the one this decision would give."""

    def __init__(self, stage: int) -> None:
        super().__init__("stage_changed", f"Another marker has just recorded a decision for "
                         f"this learner, so upholding this incident would now give Stage "
                         f"{stage}. Reload the page, check, and decide again.")
        self.stage = stage


class LinkRefused(ToolError):
    """An answer link that is unknown, used, expired or not this person's."""

    title = "This link cannot be used"


# --- settings and visibility -------------------------------------------------------------

def checkers() -> list[str]:
    """The authorised AI-checking systems (setting ``AI_CHECKERS``)."""
    value = current_app.config.get("AI_CHECKERS") or []
    if isinstance(value, str):
        value = json.loads(value) if value.strip().startswith("[") else [
            v.strip() for v in value.split(",")]
    return [str(v).strip() for v in value if str(v).strip()]


def can_see_everything(person: Person) -> bool:
    """ALS members and tool administrators see full detail of every incident on the
    platform."""
    from lti_tool.roles import service as roles

    return roles.is_tool_admin(person) or roles.is_als(person)


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


# --- who may act on a case ----------------------------------------------------------------

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


class ConflictOfInterest(ToolError):
    """The person may not take this part in the case (see :func:`conflict_of_interest`)."""

    status = 403
    title = "You cannot act on this case"


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
        return ("This incident is about you, so you cannot open it as staff or take part in "
                "it. Another member of staff or the ALS team will handle it.")
    if action == APPEAL_REVIEW:
        deciders = set(db.session.scalars(sa.select(IncidentEvent.actor_id).where(
            IncidentEvent.incident_id == incident.id, IncidentEvent.kind == EV_DECIDED)))
        if person.id in {incident.raised_by_id, incident.decided_by_id, *deciders}:
            return ("You raised or decided this incident, so you cannot review its appeal. "
                    "Someone new to the case must review it.")
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


# --- stages --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Standing:
    """A learner's position under the policy, platform-wide."""

    upheld: int  # upheld incidents so far (not withdrawn)
    stage: int  # 0 (none) to 3
    since: datetime | None  # when the latest upheld incident was recorded

    @property
    def next_stage(self) -> int:
        return min(self.upheld + 1, MAX_STAGE)

    @property
    def next_is_repeat(self) -> bool:
        """The next upheld incident would be Stage 3 again (repeated misuse)."""
        return self.upheld >= MAX_STAGE


def standing(person: Person) -> Standing:
    entries = list(db.session.execute(
        sa.select(StageLedgerEntry.ordinal, StageLedgerEntry.assigned_at)
        .where(StageLedgerEntry.learner_id == person.id, StageLedgerEntry.revoked_at.is_(None))
        .order_by(StageLedgerEntry.ordinal)))
    upheld = len(entries)
    return Standing(upheld, min(upheld, MAX_STAGE), entries[-1][1] if entries else None)


def stage_meaning(policy: Policy, stage: int) -> str:
    """The policy's own words for a stage."""
    return str(policy["stages"][stage - 1]["text"])


def action_for(stage: int, chosen: str | None) -> str:
    if stage == 1:
        return ACTION_MARKED_AND_ADVISED
    if stage == 2:
        if chosen not in STAGE_2_ACTIONS:
            raise IncidentError("stage_action", "Choose a professional discussion or a new "
                                "assignment for Stage 2.")
        return chosen
    return ACTION_REPORT_TO_AWARDING_BODY


def _lock_learner(learner_id: int, platform_id: int) -> LearnerStanding:
    """Take the learner's lock: an UPDATE of their standing row (a row lock on PostgreSQL,
    the write lock on SQLite), creating the row first if needed. Held until commit."""
    for _ in range(3):
        updated = db.session.execute(
            sa.update(LearnerStanding).where(LearnerStanding.person_id == learner_id)
            .values(version=LearnerStanding.version + 1)
            .execution_options(synchronize_session=False))
        if updated.rowcount == 1:  # type: ignore[attr-defined]
            row = db.session.get(LearnerStanding, learner_id, populate_existing=True)
            assert row is not None
            return row
        try:
            with db.session.begin_nested():
                db.session.add(LearnerStanding(person_id=learner_id, platform_id=platform_id))
        except IntegrityError:
            continue  # created by another transaction at the same moment: lock it
    raise IncidentConflict("learner_lock", "The learner's record is busy. Try again.")


def _ensure_standing(learner: Person) -> None:
    if db.session.get(LearnerStanding, learner.id) is not None:
        return
    try:
        with db.session.begin_nested():
            db.session.add(LearnerStanding(person_id=learner.id, platform_id=learner.platform_id))
    except IntegrityError:
        pass  # another request created it


def _lock(incident: Incident) -> None:
    """Lock the incident's row and reload it, so the checks below see the latest state."""
    db.session.execute(sa.update(Incident).where(Incident.id == incident.id)
                       .values(last_seq=Incident.last_seq)
                       .execution_options(synchronize_session=False))
    db.session.refresh(incident)


# --- events --------------------------------------------------------------------------------

def _actor(person: Person | None) -> str:
    return f"person:{person.id}" if person is not None else "system"


def _event(incident: Incident, kind: str, actor: Person | None, data: dict[str, Any],
           at: datetime | None = None) -> IncidentEvent:
    """Append an event (the incident must be locked or new) and its audit record."""
    incident.last_seq += 1
    event = IncidentEvent(incident_id=incident.id, seq=incident.last_seq, kind=kind,
                          at=at or utcnow(), actor_id=actor.id if actor else None,
                          actor=_actor(actor),
                          data=json.dumps(data, sort_keys=True, ensure_ascii=False,
                                          default=str))
    db.session.add(event)
    db.session.flush()
    audit.record(_actor(actor), f"incident.{kind}", "incident", incident.id,
                 {"seq": event.seq, "learner_id": incident.learner_id,
                  **{k: v for k, v in data.items() if k not in ("text", "answer", "notes",
                                                                "reasons", "observations")}})
    return event


# --- raising an incident -------------------------------------------------------------------

@dataclass(frozen=True)
class EvidenceInput:
    """A further piece of evidence: a text, a file, or both (``filename`` with ``content``)."""

    label: str
    text: str = ""
    filename: str | None = None
    content: bytes | None = None


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    content_type: str
    sha256: str
    size: int


def check_file(filename: str, content: bytes, field: str = "evidence_file") -> CheckedFile:
    """Refuse files that are not PDF, Word (.docx), text, PNG or JPEG (by name *and* by
    content), empty or larger than ``INCIDENT_MAX_UPLOAD_BYTES``."""
    limit = int(current_app.config["INCIDENT_MAX_UPLOAD_BYTES"])
    name = " ".join(filename.replace("\\", "/").split("/")[-1].split())[:200]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in ALLOWED_FILES:
        raise IncidentError(field, "The file must be a PDF, Word (.docx), text, PNG or JPEG "
                            "file.")
    if not content:
        raise IncidentError(field, "The file is empty.")
    if len(content) > limit:
        raise IncidentError(field, f"The file must be {size_label(limit)} or smaller.")
    if not _content_matches(ext, content):
        raise IncidentError(field, f"The file's content is not {ALLOWED_FILES[ext][1]}: "
                            "check you chose the right file.")
    return CheckedFile(name, ALLOWED_FILES[ext][0], hashlib.sha256(content).hexdigest(),
                       len(content))


def size_label(n: int) -> str:
    """A byte count as people read it (5 MB, 300 KB)."""
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def _content_matches(ext: str, content: bytes) -> bool:
    if ext == "pdf":
        return content.startswith(b"%PDF-")
    if ext == "png":
        return content.startswith(b"\x89PNG\r\n\x1a\n")
    if ext in ("jpg", "jpeg"):
        return content.startswith(b"\xff\xd8\xff")
    if ext == "docx":
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                return "word/document.xml" in archive.namelist()
        except (zipfile.BadZipFile, ValueError):
            return False
    if ext == "txt":
        if b"\x00" in content:
            return False
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    return False


def _check_evidence(items: Sequence[EvidenceInput],
                    field_prefix: str = "evidence") -> list[CheckedFile | None]:
    checked: list[CheckedFile | None] = []
    for item in items:
        has_file = bool(item.filename or item.content)
        if not has_file and not item.label.strip() and not item.text.strip():
            raise IncidentError(f"{field_prefix}_text", "Describe the evidence or attach a "
                                "file.")
        if len(item.text) > 20000:
            raise IncidentError(f"{field_prefix}_text", "Evidence text must be 20,000 "
                                "characters or fewer.")
        checked.append(check_file(item.filename or "", item.content or b"",
                                  f"{field_prefix}_file") if has_file else None)
    return checked


def _store_evidence(incident: Incident, item: EvidenceInput, checked: CheckedFile | None,
                    actor: Person, at: datetime) -> EvidenceItem:
    evidence = EvidenceItem(
        incident_id=incident.id, kind=EVIDENCE_FILE if checked else EVIDENCE_TEXT,
        label=" ".join(item.label.split())[:200] or (checked.filename if checked else
                                                     "Further evidence"),
        text=item.text.strip(), added_by_id=actor.id, added_at=at,
        filename=checked.filename if checked else None,
        content_type=checked.content_type if checked else None,
        size=checked.size if checked else None, sha256=checked.sha256 if checked else None)
    db.session.add(evidence)
    db.session.flush()
    if checked is not None:
        assert item.content is not None
        db.session.add(EvidenceFile(evidence_id=evidence.id, content=item.content))
    _event(incident, EV_EVIDENCE_ADDED, actor, {
        "evidence_id": evidence.id, "kind": evidence.kind, "label": evidence.label,
        "text": evidence.text, "filename": evidence.filename, "sha256": evidence.sha256,
        "size": evidence.size}, at)
    return evidence


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
    files = _check_evidence(evidence)

    _ensure_standing(learner)
    incident = Incident(platform_id=course.platform_id, learner_id=learner.id,
                        course_id=course.id, placement_id=placement.id,
                        raised_by_id=raised_by.id, raised_at=at, source=source,
                        checker=checker, checker_result=checker_result,
                        observations=observations, state=AWAITING_ANSWER, last_seq=0)
    db.session.add(incident)
    db.session.flush()
    _event(incident, EV_RAISED, raised_by, {
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
        _event(incident, EV_EVIDENCE_ADDED, raised_by, {
            "evidence_id": detection.id, "kind": EVIDENCE_DETECTION, "label": detection.label,
            "text": checker_result}, at)
    for item, checked in zip(evidence, files, strict=True):
        _store_evidence(incident, item, checked, raised_by, at)
    for method in dict.fromkeys(planned_checks):
        _plan(incident, raised_by, method, None, "", at)
    _ask_learner(incident, policy, at, reminder=False)
    sync_gradebook(learner, [placement], at=at)
    return incident


# --- evidence, checks and notes ------------------------------------------------------------

def add_evidence(incident: Incident, actor: Person, item: EvidenceInput,
                 at: datetime | None = None) -> EvidenceItem:
    """Add a further piece of evidence (a text and/or a checked file)."""
    check_may_act(actor, incident, ADD_EVIDENCE)
    (checked,) = _check_evidence([item])
    _lock(incident)
    return _store_evidence(incident, item, checked, actor, at or utcnow())


def evidence_file(evidence: EvidenceItem) -> bytes | None:
    row = db.session.get(EvidenceFile, evidence.id)
    return row.content if row else None


def _plan(incident: Incident, actor: Person, method: str, planned_for: date | None,
          assessor: str, at: datetime) -> AuthenticityCheck:
    check = AuthenticityCheck(incident_id=incident.id, method=method, planned_by_id=actor.id,
                              planned_at=at, planned_for=planned_for,
                              assessor=" ".join(assessor.split())[:200])
    db.session.add(check)
    db.session.flush()
    _event(incident, EV_CHECK_PLANNED, actor, {
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
    _lock(incident)
    return _plan(incident, actor, method, planned_for, assessor, at or utcnow())


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
    _lock(incident)
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
    _event(incident, EV_CHECK_RECORDED, actor, {
        "check_id": check.id, "method": check.method, "done_on": done_on.isoformat(),
        "conducted_by": check.conducted_by, "outcome": outcome, "notes": check.notes}, at)
    return check


def add_note(incident: Incident, actor: Person, text: str, *, corrects: int | None = None,
             at: datetime | None = None) -> IncidentEvent:
    """A note on the incident; with ``corrects`` (an event's number) it corrects that step.
    Nothing earlier is changed."""
    check_may_act(actor, incident, NOTE)
    text = text.strip()
    if not text:
        raise IncidentError("text", "Enter the note.")
    _lock(incident)
    if corrects is not None and not 1 <= corrects <= incident.last_seq:
        raise IncidentError("corrects", "Choose a step of this incident.")
    return _event(incident, EV_NOTE_ADDED, actor, {"text": text, "corrects": corrects}, at)


# --- asking the learner --------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_LINK_SALT)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def answer_url(token: str) -> str:
    return f"{current_app.config['BASE_URL']}/learner/answer/{token}"


def _new_link(incident: Incident, at: datetime) -> tuple[str, AnswerLink]:
    raw = secrets.token_urlsafe(32)
    link = AnswerLink(incident_id=incident.id, person_id=incident.learner_id,
                      token_hash=_hash(raw), created_at=at,
                      expires_at=at + timedelta(
                          hours=float(current_app.config["INCIDENT_ANSWER_LINK_HOURS"])))
    db.session.add(link)
    db.session.flush()
    return _serializer().dumps(raw), link


def learner_email(incident: Incident) -> str:
    """Where to email the learner: their launch email, else Names and Roles'; "" when
    Moodle gave no single valid address (they are asked in the tool only)."""
    from lti_tool.notifications.addresses import usable_address

    learner = incident.learner
    if learner.email:
        return usable_address(learner.email)
    found = db.session.scalar(sa.select(CourseMember.email).where(
        CourseMember.course_id == incident.course_id, CourseMember.sub == learner.sub))
    return usable_address(found)


def assignment_name(placement: Placement) -> str:
    """The assignment a placement covers, as its teacher named it."""
    from lti_tool.declarations.service import effective_settings

    settings = effective_settings(placement)
    return settings.assignment_name or settings.title or placement.display_name


def _ask_learner(incident: Incident, policy: Policy, at: datetime, *, reminder: bool) -> None:
    from lti_tool.notifications.service import send_email

    to = learner_email(incident)
    token, link = _new_link(incident, at)
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
    _event(incident, EV_REMINDER_SENT if reminder else EV_LEARNER_ASKED, None, {
        "emailed": emailed, "to": to or None, "link_id": link.id,
        "link_expires_at": link.expires_at.isoformat()}, at)


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


def link_for_token(token: str) -> AnswerLink:
    """The answer link a token names, if it can still be used; else :class:`LinkRefused`."""
    hours = float(current_app.config["INCIDENT_ANSWER_LINK_HOURS"])
    try:
        raw = _serializer().loads(token, max_age=int(hours * 3600))
    except SignatureExpired as exc:
        raise _expired() from exc
    except BadSignature as exc:
        raise LinkRefused("answer_link_invalid", "This link is not valid. Open the AI use "
                          "activity in Moodle to answer.", status=404) from exc
    link = db.session.scalar(sa.select(AnswerLink).where(AnswerLink.token_hash == _hash(raw)))
    if link is None:
        raise LinkRefused("answer_link_invalid", "This link is not valid. Open the AI use "
                          "activity in Moodle to answer.", status=404)
    if link.used_at is not None:
        raise LinkRefused("answer_link_used", "This link has already been used: your answer "
                          "was received. Each link works once.", status=410)
    if link.expires_at < utcnow():
        raise _expired()
    return link


def _expired() -> LinkRefused:
    return LinkRefused("answer_link_expired", "This link has expired. Open the AI use "
                       "activity in Moodle to answer, or ask your tutor.", status=410)


def answer(incident: Incident, learner: Person, text: str, *, via: str,
           at: datetime | None = None) -> IncidentAnswer:
    """Save the learner's answer; every answer link of the incident stops working.

    Raises :class:`IncidentConflict` if the question was already answered or closed.
    """
    text = text.strip()
    if not text:
        raise IncidentError("answer", "Write your answer.")
    if len(text) > 10000:
        raise IncidentError("answer", "Your answer must be 10,000 characters or fewer.")
    if incident.learner_id != learner.id:
        raise LinkRefused("not_your_question", "This question was sent to someone else.",
                          status=403)
    _lock(incident)
    if incident.state != AWAITING_ANSWER:
        raise IncidentConflict("already_answered", "This question has already been answered "
                               "or closed.")
    at = at or utcnow()
    reply = IncidentAnswer(incident_id=incident.id, person_id=learner.id, text=text, via=via,
                           answered_at=at)
    try:
        with db.session.begin_nested():
            db.session.add(reply)
    except IntegrityError as exc:
        raise IncidentConflict("already_answered", "This question has already been "
                               "answered.") from exc
    db.session.execute(sa.update(AnswerLink).where(AnswerLink.incident_id == incident.id,
                                                   AnswerLink.used_at.is_(None))
                       .values(used_at=at).execution_options(synchronize_session=False))
    incident.state = ANSWERED
    incident.answered_at = at
    _event(incident, EV_ANSWERED, learner, {"answer_id": reply.id, "via": via,
                                            "answer": text}, at)
    raiser = incident.raised_by
    if raiser.email:
        from lti_tool.notifications.service import send_email

        assignment = assignment_name(incident.placement)
        send_email(raiser.email, f"{learner.display_name} has answered your question about "
                   f"{assignment}", "incident_answered", marker=raiser, learner=learner,
                   assignment=assignment, course=incident.course, incident=incident)
    sync_gradebook(learner, [incident.placement], at=at)
    return reply


def answer_of(incident: Incident) -> IncidentAnswer | None:
    return db.session.scalar(sa.select(IncidentAnswer).where(
        IncidentAnswer.incident_id == incident.id))


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
        _ask_learner(incident, current_or_bundled(), now, reminder=True)
        sent += 1
    return sent


# --- deciding --------------------------------------------------------------------------------

def decide(incident: Incident, decider: Person, *, outcome: str, reasons: str,
           policy: Policy, stage_action: str | None = None, expected_stage: int | None = None,
           without_answer: bool = False, at: datetime | None = None) -> Incident:
    """The marker's decision. *Not upheld* closes the incident (it does not count).
    *Upheld* gives it the learner's next stage across the platform, under the learner's
    lock, and records the policy's action: Stage 1 closes it (work marked, learner
    advised); Stage 2 (``stage_action``: professional discussion or new assignment) and
    Stage 3 (report to the awarding body; removal and disciplinary flags) wait for a
    follow-up. With ``expected_stage`` (the stage the marker was shown) a different stage
    raises :class:`StageChanged`; a concurrent decision never yields the same stage twice
    (the ledger's unique index backs the lock).
    """
    check_may_act(decider, incident, DECIDE)
    if outcome not in (UPHELD, NOT_UPHELD):
        raise IncidentError("outcome", "Choose whether the incident is upheld.")
    reasons = reasons.strip()
    if not reasons:
        raise IncidentError("reasons", "Give the reasons for your decision.")
    at = at or utcnow()
    learner_standing = _lock_learner(incident.learner_id, incident.platform_id)
    _lock(incident)
    if incident.state not in UNDECIDED_STATES:
        raise IncidentConflict("already_decided", "This incident has already been decided.")
    if incident.state == AWAITING_ANSWER and not without_answer:
        raise IncidentError("without_answer", "The learner has not answered yet. Tick the box "
                            "to decide without their answer, or wait for it.")
    data: dict[str, Any] = {"outcome": outcome, "reasons": reasons,
                            "without_answer": incident.state == AWAITING_ANSWER}
    if outcome == NOT_UPHELD:
        incident.state = CLOSED
        incident.closed_at = at
    else:
        upheld_so_far = int(db.session.scalar(
            sa.select(sa.func.count()).select_from(StageLedgerEntry).where(
                StageLedgerEntry.platform_id == incident.platform_id,
                StageLedgerEntry.learner_id == incident.learner_id,
                StageLedgerEntry.revoked_at.is_(None))) or 0)
        ordinal = upheld_so_far + 1
        stage = min(ordinal, MAX_STAGE)
        if expected_stage is not None and expected_stage != stage:
            raise StageChanged(stage)
        action = action_for(stage, stage_action)
        entry = StageLedgerEntry(
            platform_id=incident.platform_id, learner_id=incident.learner_id,
            incident_id=incident.id, ordinal=ordinal, stage=stage, action=action,
            removal_flag=stage == MAX_STAGE, disciplinary_flag=stage == MAX_STAGE,
            assigned_at=at, assigned_by_id=decider.id)
        try:
            with db.session.begin_nested():
                db.session.add(entry)
        except IntegrityError as exc:  # the lock makes this unreachable; the index decides
            raise StageChanged(stage) from exc
        learner_standing.upheld = ordinal
        learner_standing.stage = stage
        learner_standing.updated_at = at
        incident.stage = stage
        incident.stage_action = action
        incident.state = CLOSED if stage == 1 else FOLLOW_UP
        incident.closed_at = at if stage == 1 else None
        data.update({"stage": stage, "ordinal": ordinal, "action": action,
                     "removal_flag": entry.removal_flag,
                     "disciplinary_flag": entry.disciplinary_flag,
                     "repeated": ordinal > MAX_STAGE})
        if stage == MAX_STAGE:
            from lti_tool.declarations.service import effective_settings

            data["awarding_body"] = effective_settings(incident.placement).qualification
    incident.outcome = outcome
    incident.decided_at = at
    incident.decided_by_id = decider.id
    _event(incident, EV_DECIDED, decider, data, at)
    _tell_learner_decision(incident, policy, data)
    learner = incident.learner
    sync_gradebook(learner, None if outcome == UPHELD else [incident.placement], at=at)
    return incident


def _tell_learner_decision(incident: Incident, policy: Policy, data: dict[str, Any]) -> None:
    from lti_tool.notifications.service import send_email

    to = learner_email(incident)
    if not to:
        return
    assignment = assignment_name(incident.placement)
    stage = data.get("stage")
    send_email(to, f"The outcome of the question about your work for {assignment}",
               "incident_decision", learner=incident.learner, assignment=assignment,
               course=incident.course, upheld=data["outcome"] == UPHELD, stage=stage,
               action=data.get("action"), action_label=ACTION_LABELS.get(data.get("action") or
                                                                          "", ""),
               stage_text=stage_meaning(policy, stage) if stage else "", policy=policy,
               repeated=bool(data.get("repeated")))


def withdraw_decision(incident: Incident, actor: Person, reason: str,
                      at: datetime | None = None) -> Incident:
    """Correct a decision made in error: the incident is open again (to decide anew) and,
    if it was upheld, its stage no longer counts. Only the learner's latest upheld incident
    can lose its stage (a later one depends on it). The earlier decision stays in the
    events."""
    check_may_act(actor, incident, WITHDRAW)
    reason = reason.strip()
    if not reason:
        raise IncidentError("reason", "Give the reason for withdrawing the decision.")
    at = at or utcnow()
    learner_standing = _lock_learner(incident.learner_id, incident.platform_id)
    _lock(incident)
    if incident.state in UNDECIDED_STATES:
        raise IncidentConflict("not_decided", "This incident has no decision to withdraw.")
    data: dict[str, Any] = {"reason": reason, "outcome": incident.outcome,
                            "stage": incident.stage}
    if incident.outcome == UPHELD:
        entry = db.session.scalar(sa.select(StageLedgerEntry).where(
            StageLedgerEntry.incident_id == incident.id, StageLedgerEntry.revoked_at.is_(None)))
        top = db.session.scalar(sa.select(sa.func.max(StageLedgerEntry.ordinal)).where(
            StageLedgerEntry.learner_id == incident.learner_id,
            StageLedgerEntry.revoked_at.is_(None)))
        if entry is not None:
            if entry.ordinal != top:
                raise IncidentError("reason", "A later upheld incident for this learner "
                                    "builds on this stage: withdraw that decision first.")
            entry.revoked_at = at
            entry.revoked_by_id = actor.id
            learner_standing.upheld = entry.ordinal - 1
            learner_standing.stage = min(entry.ordinal - 1, MAX_STAGE)
            learner_standing.updated_at = at
            data["ordinal"] = entry.ordinal
    incident.state = ANSWERED if incident.answered_at else AWAITING_ANSWER
    incident.outcome = None
    incident.stage = None
    incident.stage_action = None
    incident.decided_at = None
    incident.decided_by_id = None
    incident.closed_at = None
    _event(incident, EV_DECISION_WITHDRAWN, actor, data, at)
    sync_gradebook(incident.learner, None if data["outcome"] == UPHELD else
                   [incident.placement], at=at)
    return incident


def record_follow_up(incident: Incident, actor: Person, *, result: str, notes: str,
                     done_on: date, at: datetime | None = None) -> Incident:
    """Record the result of Stage 2's professional discussion or new assignment, or that a
    Stage 3 incident was reported to the awarding body; the incident closes."""
    check_may_act(actor, incident, FOLLOW_UP_ACTION)
    _lock(incident)
    if incident.state != FOLLOW_UP or incident.stage is None:
        raise IncidentConflict("no_follow_up", "This incident has no follow-up to record.")
    if result not in FOLLOW_UP_RESULTS[incident.stage]:
        raise IncidentError("result", "Choose the result.")
    if not notes.strip():
        raise IncidentError("notes", "Enter notes on the result.")
    if done_on > utcnow().date():
        raise IncidentError("done_on", "The date cannot be in the future.")
    at = at or utcnow()
    incident.state = CLOSED
    incident.closed_at = at
    _event(incident, EV_FOLLOW_UP_RECORDED, actor, {
        "result": result, "notes": notes.strip(), "done_on": done_on.isoformat(),
        "action": incident.stage_action, "stage": incident.stage}, at)
    return incident


# --- reading ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    kind: str
    at: datetime
    actor: str  # a person's name, or "AIU" for the system
    data: dict[str, Any]


def timeline(incident: Incident) -> list[TimelineEntry]:
    """Every step of the incident in order, with who and when (for the page and reports)."""
    events = db.session.scalars(
        sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id)
        .options(selectinload(IncidentEvent.actor_person)).order_by(IncidentEvent.seq))
    return [TimelineEntry(e.seq, e.kind, e.at,
                          e.actor_person.display_name if e.actor_person else "AIU",
                          json.loads(e.data)) for e in events]


def evidence_of(incident: Incident) -> list[EvidenceItem]:
    return list(db.session.scalars(
        sa.select(EvidenceItem).where(EvidenceItem.incident_id == incident.id)
        .options(selectinload(EvidenceItem.added_by)).order_by(EvidenceItem.id)))


def checks_of(incident: Incident) -> list[AuthenticityCheck]:
    return list(db.session.scalars(
        sa.select(AuthenticityCheck).where(AuthenticityCheck.incident_id == incident.id)
        .order_by(AuthenticityCheck.id)))


def incidents_of(learner: Person) -> list[Incident]:
    """All the learner's incidents on the platform, newest first."""
    return learner_cases(learner)


@dataclass(frozen=True)
class LearnerSummary:
    stage: int
    open_count: int
    waiting_answer: int
    waiting_decision: int
    follow_up: int


def summaries(person_ids: Iterable[int]) -> dict[int, LearnerSummary]:
    """Stage and open incidents of many learners in two queries (for the dashboard)."""
    ids = list(set(person_ids))
    if not ids:
        return {}
    stages = dict(db.session.execute(
        sa.select(LearnerStanding.person_id, LearnerStanding.stage)
        .where(LearnerStanding.person_id.in_(ids))).all())
    counts: dict[int, dict[str, int]] = {}
    for learner_id, state, n in db.session.execute(
            sa.select(Incident.learner_id, Incident.state, sa.func.count())
            .where(Incident.learner_id.in_(ids), Incident.state.in_(OPEN_STATES))
            .group_by(Incident.learner_id, Incident.state)):
        counts.setdefault(learner_id, {})[state] = int(n)
    result = {}
    for person_id in ids:
        c = counts.get(person_id, {})
        result[person_id] = LearnerSummary(
            stage=int(stages.get(person_id, 0)), open_count=sum(c.values()),
            waiting_answer=c.get(AWAITING_ANSWER, 0), waiting_decision=c.get(ANSWERED, 0),
            follow_up=c.get(FOLLOW_UP, 0))
    return result


def state_label(incident: Incident) -> str:
    """The incident's state for staff."""
    if incident.state == AWAITING_ANSWER:
        return "Waiting for the learner's answer"
    if incident.state == ANSWERED:
        return "Answered: decision needed"
    if incident.state == FOLLOW_UP:
        return f"Upheld at Stage {incident.stage}: follow-up to record"
    if incident.outcome == UPHELD:
        return f"Upheld at Stage {incident.stage}"
    return "Not upheld"


# --- Moodle's gradebook ------------------------------------------------------------------------

def gradebook_note(person: Person, placement: Placement) -> str:
    """What the tool adds to the declaration grade's feedback for this learner and activity.

    Moodle shows this feedback to the learner too, so an open question is worded
    neutrally; the stage appears once an incident has been upheld (the learner has been
    told). Empty when there is nothing to say.
    """
    parts: list[str] = []
    latest_open = db.session.scalar(
        sa.select(Incident).where(Incident.learner_id == person.id,
                                  Incident.placement_id == placement.id,
                                  Incident.state.in_(UNDECIDED_STATES))
        .order_by(Incident.raised_at.desc()).limit(1))
    if latest_open is not None:
        if latest_open.state == AWAITING_ANSWER:
            parts.append(f"Question sent on {_day(latest_open.raised_at)}: awaiting the "
                         "learner's reply in the AI use activity")
        else:
            assert latest_open.answered_at is not None
            parts.append(f"Reply received on {_day(latest_open.answered_at)}: review in "
                         "progress")
    current = standing(person)
    if current.stage:
        assert current.since is not None
        parts.append(f"AI use policy stage {current.stage} of {MAX_STAGE} (recorded "
                     f"{_day(current.since)})")
    return "".join(f". {p}" for p in parts)


def _day(moment: datetime) -> str:
    return moment.strftime("%d %B %Y").lstrip("0")


def sync_gradebook(person: Person, placements: Sequence[Placement] | None = None, *,
                   at: datetime | None = None) -> int:
    """Queue the declaration grade again with the current note, on ``placements`` (all the
    learner's placements when None) where the learner has declared. Always 1/1,
    FullyGraded, through :func:`lti_tool.gradesync.service.queue_score`: the gradebook gate
    stays open. Nothing is sent where the learner has not declared (a 0 would be a grade
    the learner never had). Returns how many scores were queued."""
    from lti_tool.declarations.models import Declaration
    from lti_tool.declarations.service import declaration_comment
    from lti_tool.gradesync.service import queue_score
    from lti_tool.policy.service import by_id

    latest_ids = sa.select(sa.func.max(Declaration.id)).where(
        Declaration.person_id == person.id).group_by(Declaration.placement_id)
    if placements is not None:
        latest_ids = latest_ids.where(Declaration.placement_id.in_([p.id for p in placements]))
    queued = 0
    for declaration in db.session.scalars(
            sa.select(Declaration).where(Declaration.id.in_(latest_ids))
            .options(selectinload(Declaration.placement)).order_by(Declaration.id)):
        policy = by_id(declaration.policy_version_id)
        assert policy is not None
        comment = declaration_comment(declaration, policy) + gradebook_note(
            person, declaration.placement)
        queue_score(declaration.placement, person.sub, score_given=1, score_maximum=1,
                    comment=comment, at=at)
        queued += 1
    return queued


def describe(entry: TimelineEntry) -> str:
    """One step of an incident in plain English (for the incident page and the reports)."""
    d = entry.data
    kind = entry.kind
    if kind == EV_RAISED:
        source = (f"AI-checking system: {d.get('checker')}" if d.get("source") == SOURCE_CHECKER
                  else "marker's own observation")
        return f"Incident raised ({source})."
    if kind == EV_EVIDENCE_ADDED:
        name = f" ({d['filename']})" if d.get("filename") else ""
        return f"Evidence added: {d.get('label', '')}{name}."
    if kind == EV_CHECK_PLANNED:
        when = f" for {d['planned_for']}" if d.get("planned_for") else ""
        return f"{str(d.get('method', 'Check')).capitalize()} planned{when}."
    if kind == EV_CHECK_RECORDED:
        outcome = CHECK_OUTCOMES.get(d.get("outcome") or "", d.get("outcome") or "")
        return (f"{str(d.get('method', 'Check')).capitalize()} done on {d.get('done_on')} by "
                f"{d.get('conducted_by')}: {outcome}.")
    if kind == EV_LEARNER_ASKED:
        until = (f" (link valid until {str(d['link_expires_at'])[:10]})"
                 if d.get("link_expires_at") else "")
        return (f"Learner emailed and asked how this could have occurred{until}."
                if d.get("emailed")
                else "Learner asked in the tool (Moodle has no usable email address for them).")
    if kind == EV_REMINDER_SENT:
        return ("Reminder emailed to the learner." if d.get("emailed")
                else "Reminder due (no email address).")
    if kind == EV_ANSWERED:
        return "Learner answered " + ("through the emailed link." if d.get("via") == "link"
                                      else "in Moodle.")
    if kind == EV_DECIDED:
        if d.get("outcome") == UPHELD:
            action = ACTION_LABELS.get(d.get("action") or "", d.get("action") or "")
            return f"Decision: upheld, Stage {d.get('stage')} ({action})."
        return "Decision: not upheld."
    if kind == EV_DECISION_WITHDRAWN:
        return f"Decision withdrawn: {d.get('reason', '')}"
    if kind == EV_FOLLOW_UP_RECORDED:
        results = FOLLOW_UP_RESULTS.get(int(d.get("stage") or 0), {})
        return (f"Follow-up recorded ({d.get('done_on')}): "
                f"{results.get(d.get('result') or '', d.get('result'))}. {d.get('notes', '')}")
    if kind == EV_NOTE_ADDED:
        label = f"Correction to step {d['corrects']}" if d.get("corrects") else "Note"
        return f"{label}: {d.get('text', '')}"
    return kind.replace("_", " ").capitalize()
