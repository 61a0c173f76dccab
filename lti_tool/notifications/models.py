"""What each person chose for the tool's notifications, and the lines waiting for their
daily digest."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext
from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.dbtypes import UTCDateTime, utcnow
from lti_tool.extensions import db

IMMEDIATELY = "immediately"
DAILY = "daily"
FREQUENCIES = (IMMEDIATELY, DAILY)
FREQUENCY_LABELS = {
    IMMEDIATELY: lazy_gettext("One email for each new request or answer, as it arrives"),
    DAILY: lazy_gettext("One email a day listing what arrived (the daily digest)"),
}


class NotificationPreference(db.Model):  # type: ignore[name-defined,misc]
    """How a person wants to be told (no row: immediately)."""

    __tablename__ = "notification_preference"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    frequency: Mapped[str] = mapped_column(String(16), nullable=False, default=IMMEDIATELY)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"<NotificationPreference person={self.person_id} {self.frequency}>"


class DigestItem(db.Model):  # type: ignore[name-defined,misc]
    """One line of a person's next daily digest: what happened and the link to it.
    ``sent_at`` is set, by a conditional update, in the transaction that queues the digest."""

    __tablename__ = "digest_item"
    __table_args__ = (Index("ix_digest_item_waiting", "sent_at", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), nullable=False)
    line: Mapped[str] = mapped_column(String(500), nullable=False)
    url: Mapped[str] = mapped_column(String(1024), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<DigestItem {self.id} person={self.person_id}>"
