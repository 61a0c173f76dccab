"""Platforms (Moodle sites and their registrations) and deployments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.dbtypes import UTCDateTime, utcnow
from lti_tool.extensions import db


class Platform(db.Model):  # type: ignore[name-defined,misc]
    """One registration of the tool on a platform: an (issuer, client_id) pair.

    A Moodle site can hold several registrations of the tool, so an issuer may appear
    several times with different client ids.
    """

    __tablename__ = "platform"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    client_id: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    auth_login_url: Mapped[str] = mapped_column(String(1024), nullable=False)
    auth_token_url: Mapped[str] = mapped_column(String(1024), nullable=False)
    key_set_url: Mapped[str] = mapped_column(String(1024), nullable=False)
    product_family_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    product_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    platform_guid: Mapped[str | None] = mapped_column(String(255), nullable=True)
    granted_scopes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    registered_via: Mapped[str] = mapped_column(String(16), nullable=False, default="manual")
    active: Mapped[bool] = mapped_column(nullable=False, default=True)
    # The policy (its reference) the platform's placements follow unless they name one;
    # None: the tool's default (POLICY_DEFAULT_REFERENCE).
    policy_reference: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="platform", order_by="Deployment.id", cascade="all, delete-orphan"
    )

    @property
    def display_name(self) -> str:
        return self.name or self.issuer

    def __repr__(self) -> str:
        return f"<Platform {self.id} {self.issuer} client={self.client_id}>"


class Deployment(db.Model):  # type: ignore[name-defined,misc]
    """A deployment of a registration (Moodle: the tool type id)."""

    __tablename__ = "deployment"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), nullable=False)
    deployment_id: Mapped[str] = mapped_column(String(255), nullable=False)
    active: Mapped[bool] = mapped_column(nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    platform: Mapped[Platform] = relationship(back_populates="deployments")

    def __repr__(self) -> str:
        return f"<Deployment {self.deployment_id} of platform {self.platform_id}>"


class RegistrationInvite(db.Model):  # type: ignore[name-defined,misc]
    """A single-use, expiring Dynamic Registration URL minted by an admin.

    Only the SHA-256 of the secret in the URL is stored.
    """

    __tablename__ = "registration_invite"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platform.id"), nullable=True)

    def __repr__(self) -> str:
        return f"<RegistrationInvite {self.id} used={self.used_at is not None}>"
