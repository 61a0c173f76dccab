"""Policy versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.dbtypes import UTCDateTime, utcnow
from lti_tool.extensions import db

DRAFT = "draft"
PUBLISHED = "published"
RETIRED = "retired"


class PolicyVersion(db.Model):  # type: ignore[name-defined,misc]
    """One version of the policy. Its content never changes once imported; publishing makes
    it the version learners declare under (the previously published one retires)."""

    __tablename__ = "policy_version"
    __table_args__ = (UniqueConstraint("reference", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), nullable=False)
    version: Mapped[str] = mapped_column(String(32), nullable=False)
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=DRAFT)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(255), nullable=False)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    published_by: Mapped[str | None] = mapped_column(String(255), nullable=True)

    @property
    def label(self) -> str:
        return f"{self.reference} v{self.version}"

    def __repr__(self) -> str:
        return f"<PolicyVersion {self.reference} {self.version} {self.status}>"
