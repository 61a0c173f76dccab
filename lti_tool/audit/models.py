"""The append-only, hash-chained audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.dbtypes import UTCDateTime, utcnow
from lti_tool.extensions import db

GENESIS_HASH = "0" * 64


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    """One state change: who did what to which object, when, with details.

    ``hash`` covers every other field and the previous event's hash, so editing or deleting
    any event breaks the chain from there on (``flask audit verify``). Records are named by
    id; personal data (an address, a name, a label a person typed) goes in ``personal``,
    which the hash does not cover, so disposal can blank it and the chain still verifies.
    """

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    object_type: Mapped[str] = mapped_column(String(64), nullable=False)
    object_id: Mapped[str] = mapped_column(String(255), nullable=False)
    details: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    # Personal data about the event (JSON), outside the hash: redacted (NULL) on disposal.
    personal: Mapped[str | None] = mapped_column(Text, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)

    def __repr__(self) -> str:
        return f"<AuditEvent {self.seq} {self.action} {self.object_type}:{self.object_id}>"


class AuditHead(db.Model):  # type: ignore[name-defined,misc]
    """The single row holding the chain's tip; updating it first serialises appenders."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(nullable=False, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False, default=GENESIS_HASH)
