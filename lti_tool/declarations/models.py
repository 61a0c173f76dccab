"""Placement settings (what a teacher chose for an assignment) and declarations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from lti_tool.dbtypes import ImmutableRecord as ImmutableRecord  # for callers
from lti_tool.dbtypes import UTCDateTime, never_updated, utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Person, Placement
from lti_tool.policy.models import PolicyVersion

QUALIFICATIONS = {"CIPD": "CIPD", "CMI": "CMI"}


class PlacementSettings(db.Model):  # type: ignore[name-defined,misc]
    """A teacher's configuration of the tool for one assignment.

    Made by deep linking (before Moodle has created the activity, so it travels to the
    activity as the custom parameter ``aiu_settings``) or at the first staff launch of a
    placement added by hand. Changes make a new row; the placement points at the latest.
    """

    __tablename__ = "placement_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), nullable=False)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    assignment_name: Mapped[str] = mapped_column(String(200), nullable=False)
    qualification: Mapped[str] = mapped_column(String(16), nullable=False)
    permitted_uses: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of keys
    guidance: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # The teacher's choice: learners answer the policy version's comprehension questions
    # before they declare.
    comprehension_check: Mapped[bool] = mapped_column(nullable=False, default=False,
                                                      server_default=text("false"))
    created_by: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("placement_settings.id"),
                                                    nullable=True)

    def __repr__(self) -> str:
        return f"<PlacementSettings {self.id} {self.title!r}>"


class PlacementBinding(db.Model):  # type: ignore[name-defined,misc]
    """Which settings a placement uses now (one row per placement, repointed on change)."""

    __tablename__ = "placement_binding"

    placement_id: Mapped[int] = mapped_column(ForeignKey("placement.id"), primary_key=True)
    settings_id: Mapped[int] = mapped_column(ForeignKey("placement_settings.id"),
                                             nullable=False)
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    settings: Mapped[PlacementSettings] = relationship()
    # Placement.binding: the placement's display name is the tool's own title (people
    # cannot import this module, so the relationship is declared from this side).
    placement: Mapped[Placement] = relationship(
        backref=backref("binding", uselist=False, viewonly=True), viewonly=True)

    def __repr__(self) -> str:
        return f"<PlacementBinding {self.placement_id} -> {self.settings_id}>"


class Declaration(db.Model):  # type: ignore[name-defined,misc]
    """A learner's pre-assignment AI-use declaration. Never updated: a change is a new row
    whose ``supersedes_id`` points at the one it replaces."""

    __tablename__ = "declaration"
    __table_args__ = (
        Index("ix_declaration_person_placement", "person_id", "placement_id"),
        # One first declaration per learner and placement; later ones each supersede exactly
        # one earlier (supersedes_id is unique), so the history is a single chain.
        Index("uq_declaration_first", "person_id", "placement_id", unique=True,
              sqlite_where=text("supersedes_id IS NULL"),
              postgresql_where=text("supersedes_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placement.id"), nullable=False,
                                              index=True)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_version.id"),
                                                   nullable=False)
    settings_id: Mapped[int | None] = mapped_column(ForeignKey("placement_settings.id"),
                                                    nullable=True)
    uses_ai: Mapped[bool] = mapped_column(nullable=False)
    permitted_uses: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of keys
    ai_tools: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of names
    authorisation_ids: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    confirmed_no_personal_data: Mapped[bool] = mapped_column(nullable=False)
    confirmed_no_ai_after_start: Mapped[bool] = mapped_column(nullable=False)
    confirmed_own_work: Mapped[bool] = mapped_column(nullable=False)
    signature: Mapped[str] = mapped_column(String(200), nullable=False)
    # The statements the learner confirmed, word for word as shown to them (JSON list of
    # {"key", "text"}); "[]" for declarations made before the wording was stored.
    statements: Mapped[str] = mapped_column(Text, nullable=False, default="[]",
                                            server_default="[]")
    # The comprehension check, when the assignment asks for it (JSON: attempts, passed_at).
    comprehension: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("declaration.id"),
                                                      nullable=True, unique=True)

    person: Mapped[Person] = relationship()
    placement: Mapped[Placement] = relationship()
    policy_version: Mapped[PolicyVersion] = relationship()

    def __repr__(self) -> str:
        return f"<Declaration {self.id} person={self.person_id} placement={self.placement_id}>"


class Authentication(db.Model):  # type: ignore[name-defined,misc]
    """The learner's declaration of authentication, made once they have submitted: the work
    is their own and AI was used only as declared (and authorised). Bound to the
    pre-assignment declaration it confirms and to that declaration's policy version; never
    updated (a new declaration can be authenticated in its own right)."""

    __tablename__ = "declaration_authentication"

    id: Mapped[int] = mapped_column(primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declaration.id"), nullable=False,
                                                unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placement.id"), nullable=False,
                                              index=True)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_version.id"),
                                                   nullable=False)
    statement: Mapped[str] = mapped_column(Text, nullable=False)
    signature: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    declaration: Mapped[Declaration] = relationship()

    def __repr__(self) -> str:
        return f"<Authentication {self.id} declaration={self.declaration_id}>"


CARD_VIEWED = "card_viewed"
FULL_POLICY_OPENED = "full_policy_opened"
AWARENESS_KINDS = {CARD_VIEWED: "First saw the policy for this assignment",
                   FULL_POLICY_OPENED: "First opened the full policy"}


class AwarenessEvent(db.Model):  # type: ignore[name-defined,misc]
    """Evidence that the learner was made aware of the rules: the first time, per activity
    and policy version, they saw the policy card and opened the full policy."""

    __tablename__ = "awareness_event"
    __table_args__ = (UniqueConstraint("person_id", "placement_id", "policy_version_id",
                                       "kind", name="uq_awareness_event_once"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placement.id"), nullable=False,
                                              index=True)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_version.id"),
                                                   nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    policy_version: Mapped[PolicyVersion] = relationship()

    def __repr__(self) -> str:
        return f"<AwarenessEvent {self.kind} person={self.person_id}>"


class ComprehensionAttempt(db.Model):  # type: ignore[name-defined,misc]
    """One go at the comprehension check (answers as JSON {question key: choice key})."""

    __tablename__ = "comprehension_attempt"
    __table_args__ = (Index("ix_comprehension_person_placement", "person_id",
                            "placement_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placement.id"), nullable=False)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_version.id"),
                                                   nullable=False)
    answers: Mapped[str] = mapped_column(Text, nullable=False)
    passed: Mapped[bool] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"<ComprehensionAttempt {self.id} passed={self.passed}>"


never_updated(Declaration, Authentication, AwarenessEvent, ComprehensionAttempt)
