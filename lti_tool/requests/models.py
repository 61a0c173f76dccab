"""AI-tool requests, ALS decisions and learners' answers.

A request moves through states (``status``, guarded by ``version``: every change is a
conditional update on the version the actor saw, so two people acting at once cannot both
succeed). Decisions and answers are append-only: a change of mind is a new decision, and
the latest decision in force is what counts.
"""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import gettext, lazy_gettext
from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.dbtypes import ImmutableRecord as ImmutableRecord  # for callers
from lti_tool.dbtypes import UTCDateTime, never_updated, utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Course, Person, Placement

# Request states.
PENDING = "pending"  # waiting for the ALS team
MORE_INFO = "more_info"  # the ALS team asked the learner a question
APPROVED = "approved"
DECLINED = "declined"
REVOKED = "revoked"  # approved, then withdrawn by the ALS team
WITHDRAWN = "withdrawn"  # withdrawn by the learner
OPEN_STATES = (PENDING, MORE_INFO)
STATES = (PENDING, MORE_INFO, APPROVED, DECLINED, REVOKED, WITHDRAWN)

STATUS_LABELS = {
    PENDING: lazy_gettext("Waiting for the ALS team"),
    MORE_INFO: lazy_gettext("More information needed"),
    APPROVED: lazy_gettext("Approved"),
    DECLINED: lazy_gettext("Declined"),
    REVOKED: lazy_gettext("Revoked"),
    WITHDRAWN: lazy_gettext("Withdrawn"),
}

# Decision outcomes: each one puts the request in the state of the same name.
OUTCOMES = (APPROVED, DECLINED, MORE_INFO, REVOKED)

# Scopes.
ASSIGNMENT = "assignment"
COURSE = "course"
QUALIFICATION = "qualification"
SCOPES = (ASSIGNMENT, COURSE, QUALIFICATION)
SCOPE_LABELS = {
    ASSIGNMENT: lazy_gettext("This assignment only"),
    COURSE: lazy_gettext("This course"),
    QUALIFICATION: lazy_gettext("All of my qualification"),
}
# The same, as the ALS team chooses them for a learner.
STAFF_SCOPE_LABELS = {
    ASSIGNMENT: lazy_gettext("This assignment only"),
    COURSE: lazy_gettext("This course"),
    QUALIFICATION: lazy_gettext("All of the learner's qualification"),
}

# Why the learner needs the tool.
ACCESSIBILITY = "accessibility"
LANGUAGE = "language"
OTHER = "other"
REASONS = (ACCESSIBILITY, LANGUAGE, OTHER)
REASON_LABELS = {
    ACCESSIBILITY: lazy_gettext("An accessibility need or reasonable adjustment"),
    LANGUAGE: lazy_gettext("Language support"),
    OTHER: lazy_gettext("Another reason"),
}


class AiToolRequest(db.Model):  # type: ignore[name-defined,misc]
    """A learner's request to use one AI tool, made from an assignment placement.

    ``purpose`` (what the learner wants to do with the tool) is for the ALS team and the
    learner's course staff; ``reason``, ``reason_detail`` and ``supporting_detail`` (why they
    need it: a disability, language support...) are for the ALS team only, never staff.
    Requests made before the two were asked apart have an empty purpose: their old text is
    the start of ``reason_detail``.
    """

    __tablename__ = "ai_tool_request"
    __table_args__ = (
        Index("ix_ai_tool_request_queue", "platform_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False, index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), nullable=False, index=True)
    placement_id: Mapped[int | None] = mapped_column(ForeignKey("placement.id"), nullable=True)
    tool_name: Mapped[str] = mapped_column(String(200), nullable=False)
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    reason_detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    scope: Mapped[str] = mapped_column(String(16), nullable=False)
    supporting_detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    version: Mapped[int] = mapped_column(nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    person: Mapped[Person] = relationship()
    course: Mapped[Course] = relationship()
    placement: Mapped[Placement | None] = relationship()
    decisions: Mapped[list[RequestDecision]] = relationship(
        back_populates="request", order_by="RequestDecision.id")
    replies: Mapped[list[RequestReply]] = relationship(
        back_populates="request", order_by="RequestReply.id")

    @property
    def latest_decision(self) -> RequestDecision | None:
        return self.decisions[-1] if self.decisions else None

    @property
    def open_question(self) -> RequestDecision | None:
        """The ALS team's question the learner has not answered yet."""
        latest = self.latest_decision
        return latest if self.status == MORE_INFO and latest is not None and \
            latest.outcome == MORE_INFO else None

    @property
    def purpose_shown(self) -> str:
        """The purpose, or "Not given" for a request made before it was asked."""
        return self.purpose or gettext("Not given")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def approval_expired(self) -> bool:
        """Approved, but the approval's expiry date has passed."""
        latest = self.latest_decision
        return (self.status == APPROVED and latest is not None
                and latest.expires_on is not None and latest.expires_on < utcnow().date())

    @property
    def status_label(self) -> str:
        label = STATUS_LABELS.get(self.status, self.status)
        return gettext("%(status)s (expired)", status=label) if self.approval_expired \
            else str(label)

    def __repr__(self) -> str:
        return f"<AiToolRequest {self.id} {self.status} v{self.version}>"


class RequestDecision(db.Model):  # type: ignore[name-defined,misc]
    """An ALS member's decision on a request. Never updated: a change of mind is a new row.

    ``approved`` carries ``conditions``, ``scope`` and ``expires_on`` (the last day the
    authorisation holds, in UTC); ``declined`` and ``revoked`` carry ``reason``;
    ``more_info`` carries ``question``.
    """

    __tablename__ = "ai_tool_request_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("ai_tool_request.id"), nullable=False,
                                            index=True)
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    conditions: Mapped[str] = mapped_column(Text, nullable=False, default="")
    scope: Mapped[str | None] = mapped_column(String(16), nullable=True)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    question: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # The request's version this decision was made on (the state the member saw).
    request_version: Mapped[int] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    request: Mapped[AiToolRequest] = relationship(back_populates="decisions")
    decided_by: Mapped[Person] = relationship()

    def __repr__(self) -> str:
        return f"<RequestDecision {self.id} {self.outcome} on request {self.request_id}>"


class RequestReply(db.Model):  # type: ignore[name-defined,misc]
    """The learner's answer to a ``more_info`` question. Never updated."""

    __tablename__ = "ai_tool_request_reply"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("ai_tool_request.id"), nullable=False,
                                            index=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("ai_tool_request_decision.id"),
                                             nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    request: Mapped[AiToolRequest] = relationship(back_populates="replies")
    decision: Mapped[RequestDecision] = relationship()

    def __repr__(self) -> str:
        return f"<RequestReply {self.id} to decision {self.decision_id}>"


never_updated(RequestDecision, RequestReply)
