"""Short-lived protocol state kept in the database so that every worker shares it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.dbtypes import UTCDateTime, utcnow
from lti_tool.extensions import db


class LoginState(db.Model):  # type: ignore[name-defined,misc]
    """An OIDC login waiting for its launch: consumed (deleted) by the first launch using it."""

    __tablename__ = "login_state"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), nullable=False)
    platform_id: Mapped[int] = mapped_column(nullable=False)
    browser_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # Hash of the client's address: the logins waiting per client are capped.
    client_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)

    def __repr__(self) -> str:
        return f"<LoginState platform={self.platform_id} expires={self.expires_at}>"


Index("ix_login_state_client", LoginState.client_hash, LoginState.created_at)


class CachedJson(db.Model):  # type: ignore[name-defined,misc]
    """A value fetched from a platform (its JWKS, a service token), shared by every worker
    as JSON text: never a pickle, so a changed row cannot run code in the tool."""

    __tablename__ = "cached_json"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)

    def __repr__(self) -> str:
        return f"<CachedJson {self.key} expires={self.expires_at}>"


class UsedNonce(db.Model):  # type: ignore[name-defined,misc]
    """A nonce seen in an accepted id_token; the unique constraint makes reuse impossible."""

    __tablename__ = "used_nonce"
    __table_args__ = (UniqueConstraint("platform_id", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(nullable=False)
    nonce: Mapped[str] = mapped_column(String(128), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)

    def __repr__(self) -> str:
        return f"<UsedNonce platform={self.platform_id}>"


class WebSession(db.Model):  # type: ignore[name-defined,misc]
    """Server-side session data; the cookie holds only a random id whose hash is the key."""

    __tablename__ = "web_session"

    sid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)

    def __repr__(self) -> str:
        return f"<WebSession expires={self.expires_at}>"
