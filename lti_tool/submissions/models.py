"""A claimed submission key and the answer its first request gave."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.dbtypes import UTCDateTime, utcnow
from lti_tool.extensions import db


class FormSubmission(db.Model):  # type: ignore[name-defined,misc]
    """Claimed in the same transaction as the record the form creates: the primary key makes a
    second claim wait for the first transaction and then fail, so only one request acts.

    Keeps the first answer (a redirect's location, or a page) to give to any repeat; the
    path is kept as a hash, since some paths carry a secret (the emailed answer link)."""

    __tablename__ = "form_submission"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    path_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[int] = mapped_column(nullable=False, default=0)
    location: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow,
                                                 index=True)

    def __repr__(self) -> str:
        return f"<FormSubmission status={self.status} at={self.created_at}>"
