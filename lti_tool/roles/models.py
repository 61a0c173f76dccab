"""Grants of tool-held roles and their revocations.

A grant names its holder by Moodle user id (``sub``) or email and counts only once it is
tied to a person (``person_id``). By Moodle user id it is tied at once if they have launched,
else at their first launch. By email it is tied only when a tool administrator confirms the
person who launched with that address (anyone can set their Moodle email, so a match alone
proves nothing). A revocation is a row of its own, so the history of who held a role stays
whole; granting again after a revocation makes a new grant.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext, lazy_gettext
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.dbtypes import UTCDateTime, utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.platforms.models import Platform

ALS = "als"
TOOL_ADMIN = "admin"
APPEAL_REVIEWER = "appeal_reviewer"  # reviews appeals against case decisions
POLICY_OWNER = "policy_owner"  # edits, previews and publishes policy versions
# Reports cases to the awarding body with the ALS team (sees every case, like them).
QUALITY_LEAD = "quality_lead"
ROLE_LABELS = {ALS: lazy_gettext("ALS team member"),
               TOOL_ADMIN: lazy_gettext("Tool administrator"),
               APPEAL_REVIEWER: lazy_gettext("Appeal reviewer"),
               POLICY_OWNER: lazy_gettext("Policy owner"),
               QUALITY_LEAD: lazy_gettext("Quality lead")}
ROLE_PHRASES = {ALS: lazy_gettext("an ALS team member"),
                TOOL_ADMIN: lazy_gettext("a tool administrator"),
                APPEAL_REVIEWER: lazy_gettext("an appeal reviewer"),
                POLICY_OWNER: lazy_gettext("a policy owner"),
                QUALITY_LEAD: lazy_gettext("the quality lead")}

_ACTIVE_PERSON = "revoked_at IS NULL AND person_id IS NOT NULL"
_WAITING_SUB = "revoked_at IS NULL AND person_id IS NULL AND sub IS NOT NULL"
_WAITING_EMAIL = "revoked_at IS NULL AND person_id IS NULL AND email IS NOT NULL"


class RoleGrant(db.Model):  # type: ignore[name-defined,misc]
    """One grant of ``role`` on a platform. Never deleted; see :class:`RoleRevocation`."""

    __tablename__ = "role_grant"
    __table_args__ = (
        CheckConstraint("person_id IS NOT NULL OR sub IS NOT NULL OR email IS NOT NULL",
                        name="identified"),
        Index("ix_role_grant_lookup", "platform_id", "role", "person_id"),
        # One active grant per role and holder, however many admins click at once: by
        # person once tied to one, else by the Moodle user id or email it names.
        Index("uq_role_grant_active_person", "platform_id", "role", "person_id", unique=True,
              sqlite_where=text(_ACTIVE_PERSON), postgresql_where=text(_ACTIVE_PERSON)),
        Index("uq_role_grant_active_sub", "platform_id", "role", "sub", unique=True,
              sqlite_where=text(_WAITING_SUB), postgresql_where=text(_WAITING_SUB)),
        Index("uq_role_grant_active_email", "platform_id", "role", "email", unique=True,
              sqlite_where=text(_WAITING_EMAIL), postgresql_where=text(_WAITING_EMAIL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), nullable=True)
    # How the granter named the holder: Moodle user id or (lower-case) email.
    sub: Mapped[str | None] = mapped_column(String(255), nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    granted_by: Mapped[str] = mapped_column(String(255), nullable=False)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Copied from the grant's RoleRevocation (same transaction) so that the unique indexes
    # above can tell active grants apart.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    platform: Mapped[Platform] = relationship()
    person: Mapped[Person | None] = relationship()
    revocation: Mapped[RoleRevocation | None] = relationship(back_populates="grant",
                                                             uselist=False)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def named_as(self) -> str:
        """How the grant names its holder, for lists."""
        if self.sub:
            return gettext("Moodle user %(sub)s", sub=self.sub)
        return self.email or ""

    @property
    def holder_name(self) -> str:
        if self.person is not None:
            return self.person.display_name
        return self.named_as

    @property
    def role_label(self) -> str:
        return str(ROLE_LABELS.get(self.role, self.role))

    @property
    def role_phrase(self) -> str:
        """'an ALS team member', 'a tool administrator'."""
        return str(ROLE_PHRASES.get(self.role, self.role))

    def __repr__(self) -> str:
        return f"<RoleGrant {self.id} {self.role} platform={self.platform_id}>"


class RoleRevocation(db.Model):  # type: ignore[name-defined,misc]
    """The end of one grant: who ended it and when."""

    __tablename__ = "role_revocation"

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("role_grant.id"), nullable=False,
                                          unique=True)
    revoked_by: Mapped[str] = mapped_column(String(255), nullable=False)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    grant: Mapped[RoleGrant] = relationship(back_populates="revocation")

    def __repr__(self) -> str:
        return f"<RoleRevocation of grant {self.grant_id}>"
