"""Incidents, their append-only events, evidence, authenticity checks, the learner's answer,
answer links, and the stage ledger.

The truth of an incident is its list of :class:`IncidentEvent` rows (never updated or
deleted; a correction is a new event). The columns of :class:`Incident` marked *projection*
are derived from those events and updated in the same transaction as the event that changes
them, so screens and the dashboard read them without replaying the list.

The learner's stage lives in :class:`StageLedgerEntry`: one active row per upheld incident,
numbered 1, 2, 3, ... per learner and ledger (``ordinal``; a ledger is a policy, or a policy
and qualification when the policy counts per qualification), with a partial unique index on
(platform, learner, ledger, ordinal) among active rows and a check that ``stage`` never
passes the ordinal. Two markers upholding at the same moment can therefore never both take
the same ordinal, so never the same stage; an upheld incident after the policy's last stage
is the last stage again (repeated misuse). :class:`LearnerStanding` is the per-learner lock
row (and a projection of the highest current stage) that decisions serialise on.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import text as sql_text  # the evidence model has a column named "text"
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.dbtypes import UTCDateTime, utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Course, Person, Placement

# Incident states (projection). Open: awaiting the learner's answer, answered (awaiting the
# marker's decision), or upheld with a follow-up still to record (Stage 2's discussion or new
# assignment, Stage 3's report to the awarding body).
AWAITING_ANSWER = "awaiting_answer"
ANSWERED = "answered"
FOLLOW_UP = "follow_up"
CLOSED = "closed"
OPEN_STATES = (AWAITING_ANSWER, ANSWERED, FOLLOW_UP)
UNDECIDED_STATES = (AWAITING_ANSWER, ANSWERED)

# Outcomes of a decision (the finding). Poor academic practice is an educational outcome:
# it closes the case without counting towards a stage.
UPHELD = "upheld"
NOT_UPHELD = "not_upheld"
POOR_PRACTICE = "poor_practice"
FINDINGS = (UPHELD, NOT_UPHELD, POOR_PRACTICE)

# Appeals: pending until a reviewer dismisses or upholds them.
APPEAL_PENDING = "pending"
APPEAL_DISMISSED = "dismissed"
APPEAL_UPHELD = "upheld"

# What a file the learner sends belongs to.
FILE_FOR_ANSWER = "answer"
FILE_FOR_APPEAL = "appeal"

# Where the concern came from.
SOURCE_CHECKER = "checker"  # an authorised AI-checking system (evidence, never a verdict)
SOURCE_OBSERVATION = "observation"  # the marker's own observation

# Evidence kinds.
EVIDENCE_DETECTION = "detection"
EVIDENCE_TEXT = "text"
EVIDENCE_FILE = "file"

# Event kinds (IncidentEvent.kind).
EV_RAISED = "raised"
EV_EVIDENCE_ADDED = "evidence_added"
EV_CHECK_PLANNED = "check_planned"
EV_CHECK_RECORDED = "check_recorded"
EV_LEARNER_ASKED = "learner_asked"
EV_REMINDER_SENT = "reminder_sent"
EV_ANSWERED = "answered"
EV_DECIDED = "decided"
EV_DECISION_WITHDRAWN = "decision_withdrawn"
EV_FOLLOW_UP_RECORDED = "follow_up_recorded"
EV_NOTE_ADDED = "note_added"
EV_DECLINED_TO_ANSWER = "declined_to_answer"
EV_ANSWER_FILE_ADDED = "answer_file_added"
EV_APPEALED = "appealed"
EV_APPEAL_DECIDED = "appeal_decided"
EV_STAGE_RECOMPUTED = "stage_recomputed"
# Checks the learner takes part in (lti_tool/cases/check_plans.py): each change is an event.
EV_CHECK_SCHEDULED = "check_scheduled"
EV_CHECK_RESCHEDULED = "check_rescheduled"
EV_CHECK_CANCELLED = "check_cancelled"
EV_CHECK_COMMENTED = "check_commented"
# Reporting to the awarding body (lti_tool/cases/reporting.py).
EV_REPORTERS_TOLD = "reporters_told"
EV_REPORT_REQUESTED = "report_requested"
# An awarding body told on suspicion (``reporting.when: on_suspicion``): the report is due
# from the moment the case is raised, and recorded by the reporting team.
EV_SUSPICION_TO_REPORT = "suspicion_to_report"
EV_SUSPICION_REPORTED = "suspicion_reported"


class Incident(db.Model):  # type: ignore[name-defined,misc]
    """A concern that a learner misused AI in one assignment (placement)."""

    __tablename__ = "incident"
    __table_args__ = (
        Index("ix_incident_learner_state", "learner_id", "state"),
        Index("ix_incident_course", "course_id"),
        CheckConstraint("source IN ('checker', 'observation')", name="source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), nullable=False)
    learner_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), nullable=False)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placement.id"), nullable=False)
    raised_by_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    checker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    checker_result: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    observations: Mapped[str] = mapped_column(Text, nullable=False)

    # Projection of the events (updated with each event, in the same transaction).
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=AWAITING_ANSWER)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    stage: Mapped[int | None] = mapped_column(nullable=True)
    stage_action: Mapped[str | None] = mapped_column(String(32), nullable=True)  # an outcome key
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seq: Mapped[int] = mapped_column(nullable=False, default=0)
    # The learner's response window (from the policy data, set when they are asked), the
    # moment they said they will not answer, and the end of the appeal window (set with
    # the decision).
    answer_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    appeal_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    learner: Mapped[Person] = relationship(foreign_keys=[learner_id])
    raised_by: Mapped[Person] = relationship(foreign_keys=[raised_by_id])
    decided_by: Mapped[Person | None] = relationship(foreign_keys=[decided_by_id])
    course: Mapped[Course] = relationship()
    placement: Mapped[Placement] = relationship()

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_decided(self) -> bool:
        return self.state not in UNDECIDED_STATES

    def __repr__(self) -> str:
        return f"<Incident {self.id} learner={self.learner_id} {self.state}>"


class IncidentEvent(db.Model):  # type: ignore[name-defined,misc]
    """One step in an incident's life. Append-only: never updated, never deleted."""

    __tablename__ = "incident_event"
    __table_args__ = (UniqueConstraint("incident_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), nullable=False)
    seq: Mapped[int] = mapped_column(nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), nullable=True)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)  # person:<id> or system
    data: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON

    actor_person: Mapped[Person | None] = relationship()

    def __repr__(self) -> str:
        return f"<IncidentEvent {self.incident_id}#{self.seq} {self.kind}>"


class EvidenceItem(db.Model):  # type: ignore[name-defined,misc]
    """A piece of evidence: an AI-checking system's result, a text, or an uploaded file.
    Never changed; a file's bytes live in :class:`EvidenceFile`."""

    __tablename__ = "incident_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), nullable=False,
                                             index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    filename: Mapped[str | None] = mapped_column(String(255), nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    size: Mapped[int | None] = mapped_column(nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    added_by_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # Whether the learner is shown it; withholding needs a reason (staff see it).
    disclosed: Mapped[bool] = mapped_column(nullable=False, default=True,
                                            server_default=sql_text("true"))
    withheld_reason: Mapped[str] = mapped_column(Text, nullable=False, default="",
                                                 server_default="")

    added_by: Mapped[Person] = relationship()

    def __repr__(self) -> str:
        return f"<EvidenceItem {self.id} {self.kind}>"


class EvidenceFile(db.Model):  # type: ignore[name-defined,misc]
    """The bytes of an uploaded evidence file (kept apart so listings never load them): in
    ``content``, or in a file named ``location`` in ``EVIDENCE_DIR``
    (:mod:`lti_tool.cases.storage`)."""

    __tablename__ = "incident_evidence_file"

    evidence_id: Mapped[int] = mapped_column(ForeignKey("incident_evidence.id"),
                                             primary_key=True)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    location: Mapped[str | None] = mapped_column(String(255), nullable=True)

    def __repr__(self) -> str:
        return f"<EvidenceFile {self.evidence_id}>"


class AuthenticityCheck(db.Model):  # type: ignore[name-defined,misc]
    """An authenticity check (a discussion of the work, questioning, observation,
    triangulation of evidence): planned, then done with a date, who, notes and outcome.

    The plan (date, time, place, what it is about, how to prepare, cancellation) is a
    projection of the check's events (planned, scheduled, rescheduled, cancelled), updated
    with each of them; the events keep every earlier plan and the reason it changed."""

    __tablename__ = "incident_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), nullable=False,
                                             index=True)
    method: Mapped[str] = mapped_column(String(64), nullable=False)
    planned_by_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    planned_for: Mapped[date | None] = mapped_column(Date, nullable=True)
    assessor: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    planned_time: Mapped[str | None] = mapped_column(String(5), nullable=True)  # "HH:MM"
    location: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    about: Mapped[str] = mapped_column(Text, nullable=False, default="")
    preparation: Mapped[str] = mapped_column(Text, nullable=False, default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Filled in once, when the check is done (an event records it; corrections are notes).
    done_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    conducted_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # A two-part check's record (``case_process.two_part_checks``): what the learner knows,
    # and how they produced the work.
    subject_knowledge: Mapped[str] = mapped_column(Text, nullable=False, default="")
    production: Mapped[str] = mapped_column(Text, nullable=False, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), nullable=True)
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def done(self) -> bool:
        return self.done_on is not None

    def __repr__(self) -> str:
        return f"<AuthenticityCheck {self.id} {self.method}>"


class IncidentAnswer(db.Model):  # type: ignore[name-defined,misc]
    """The learner's answer to "how could this have occurred?" (one per incident)."""

    __tablename__ = "incident_answer"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), nullable=False,
                                             unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    via: Mapped[str] = mapped_column(String(16), nullable=False)  # "link" or "moodle"
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"<IncidentAnswer incident={self.incident_id}>"


class AnswerLink(db.Model):  # type: ignore[name-defined,misc]
    """A single-use, expiring link emailed to the learner; only its SHA-256 is stored."""

    __tablename__ = "incident_answer_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), nullable=False,
                                             index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<AnswerLink {self.id} incident={self.incident_id}>"


class StageLedgerEntry(db.Model):  # type: ignore[name-defined,misc]
    """An upheld incident's place in one of the learner's ledgers: the ``ordinal``-th upheld
    incident counted under the policy ``ledger_key`` names (its reference, and the
    qualification when the policy counts per qualification), at the policy's stage for that
    ordinal (``stage`` = min(ordinal, the policy's last stage)), with ``action`` the outcome
    chosen. A withdrawn decision sets ``revoked_at`` (the row stays, and the incident's
    events say why)."""

    __tablename__ = "stage_ledger"
    __table_args__ = (
        Index("uq_stage_ledger_active", "platform_id", "learner_id", "ledger_key", "ordinal",
              unique=True, sqlite_where=text("revoked_at IS NULL"),
              postgresql_where=text("revoked_at IS NULL")),
        # An incident holds at most one stage at a time.
        Index("uq_stage_ledger_incident_active", "incident_id", unique=True,
              sqlite_where=text("revoked_at IS NULL"),
              postgresql_where=text("revoked_at IS NULL")),
        CheckConstraint("ordinal >= 1", name="ordinal_positive"),
        # The stage never passes the count (after the policy's last stage, it stays there).
        CheckConstraint("stage BETWEEN 1 AND ordinal", name="stage_within_ordinal"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), nullable=False)
    learner_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), nullable=False)
    ledger_key: Mapped[str] = mapped_column(String(140), nullable=False)
    ordinal: Mapped[int] = mapped_column(nullable=False)
    stage: Mapped[int] = mapped_column(nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    removal_flag: Mapped[bool] = mapped_column(nullable=False, default=False)
    disciplinary_flag: Mapped[bool] = mapped_column(nullable=False, default=False)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    assigned_by_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), nullable=True)

    def __repr__(self) -> str:
        return (f"<StageLedgerEntry learner={self.learner_id} #{self.ordinal} "
                f"stage={self.stage}>")


class LearnerStanding(db.Model):  # type: ignore[name-defined,misc]
    """One row per learner with incidents: the lock decisions take (an UPDATE of this row)
    and the current stage, kept in step with the ledger."""

    __tablename__ = "learner_standing"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), nullable=False)
    upheld: Mapped[int] = mapped_column(nullable=False, default=0)
    stage: Mapped[int] = mapped_column(nullable=False, default=0)
    version: Mapped[int] = mapped_column(nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"<LearnerStanding person={self.person_id} stage={self.stage}>"


class AnswerDraft(db.Model):  # type: ignore[name-defined,misc]
    """The learner's unsent answer (one per case, saved over until they send it)."""

    __tablename__ = "incident_answer_draft"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"<AnswerDraft incident={self.incident_id}>"


class LearnerFile(db.Model):  # type: ignore[name-defined,misc]
    """A file the learner sends with their answer (drafts, notes, version history exports)
    or with an appeal; checked like evidence. Never changed."""

    __tablename__ = "incident_learner_file"
    __table_args__ = (CheckConstraint("purpose IN ('answer', 'appeal')", name="purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), nullable=False,
                                             index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("incident_appeal.id"),
                                                  nullable=True)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, deferred=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"<LearnerFile {self.id} {self.purpose}>"


class Appeal(db.Model):  # type: ignore[name-defined,misc]
    """The learner's appeal against a decision (one per case): grounds, their text and
    files, then a reviewer's result with reasons. ``version`` lets two reviewers acting at
    once find out that one of them was first."""

    __tablename__ = "incident_appeal"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), nullable=False,
                                             unique=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), nullable=False)
    grounds: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON list
    text: Mapped[str] = mapped_column(Text, nullable=False)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default=APPEAL_PENDING)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    result_finding: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reasons: Mapped[str] = mapped_column(Text, nullable=False, default="")

    incident: Mapped[Incident] = relationship()
    reviewer: Mapped[Person | None] = relationship(foreign_keys=[reviewer_id])

    def __repr__(self) -> str:
        return f"<Appeal {self.id} incident={self.incident_id} {self.state}>"
