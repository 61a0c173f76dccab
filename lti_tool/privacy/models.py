"""Legal holds, the record of what was disposed of, and erasure requests.

None of these rows hold personal data beyond ids: a disposal record says *that* a record of
a type was removed and under which rule, never what it said.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.dbtypes import UTCDateTime, utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Person


class LegalHold(db.Model):  # type: ignore[name-defined,misc]
    """An administrator's hold on everything the tool holds about one learner: nothing of
    theirs is disposed of (by the schedule or an erasure request) until it is released."""

    __tablename__ = "legal_hold"
    __table_args__ = (Index("ix_legal_hold_person", "person_id", "released_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    placed_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), nullable=True)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), nullable=True)

    person: Mapped[Person] = relationship(foreign_keys=[person_id])

    @property
    def active(self) -> bool:
        return self.released_at is None

    def __repr__(self) -> str:
        return f"<LegalHold {self.id} person={self.person_id}>"


class Disposal(db.Model):  # type: ignore[name-defined,misc]
    """One record deleted or anonymised, by the schedule or an erasure request."""

    __tablename__ = "retention_disposal"
    __table_args__ = (Index("ix_retention_disposal_at", "platform_id", "disposed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int | None] = mapped_column(nullable=True)
    person_id: Mapped[int | None] = mapped_column(nullable=True)
    record_type: Mapped[str] = mapped_column(String(40), nullable=False)
    record_id: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)  # deleted / anonymised
    rule: Mapped[str] = mapped_column(String(40), nullable=False)  # schedule key or erasure
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disposed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"<Disposal {self.record_type}:{self.record_id} {self.action}>"


class ErasureRequest(db.Model):  # type: ignore[name-defined,misc]
    """A learner's request to erase their data, as an administrator carried it out: what
    was erased and what was kept, with the reason for each (JSON)."""

    __tablename__ = "erasure_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    received_on: Mapped[date] = mapped_column(Date, nullable=False)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), nullable=True)
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    erased: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    kept: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    emailed: Mapped[bool] = mapped_column(nullable=False, default=False)

    def __repr__(self) -> str:
        return f"<ErasureRequest {self.id} person={self.person_id}>"
