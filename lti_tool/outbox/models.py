"""Outbox messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.dbtypes import UTCDateTime, utcnow
from lti_tool.extensions import db

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
DISMISSED = "dismissed"  # failed, and an administrator decided not to send it (kept)


class OutboxMessage(db.Model):  # type: ignore[name-defined,misc]
    """One call to make outside the tool (a score to Moodle, an email).

    Messages sharing an ``ordering_key`` are delivered strictly one after another in id
    order, so a later score never overtakes an earlier one.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platform.id"), nullable=True)
    ordering_key: Mapped[str] = mapped_column(String(512), nullable=False, index=True)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    summary: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    # An email's recipient as a keyed hash (HMAC of the lower-cased address with the secret
    # key): a subject-access export finds the emails sent to a person without the delivered
    # message keeping their address.
    recipient_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    attempts: Mapped[int] = mapped_column(nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False,
                                                      default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} {self.status}>"
