"""Registering platforms: single-use registration URLs, Dynamic Registration results,
manual registration and switching registrations off. Every change is audited."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import gettext

from lti_tool.audit import service as audit
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.lti.exceptions import RegistrationError
from lti_tool.lti.registration import PlatformConfiguration, RegistrationResult
from lti_tool.platforms.models import Deployment, Platform, RegistrationInvite


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mint_invite(base_url: str, created_by: str, ttl_seconds: int) -> tuple[str, RegistrationInvite]:
    """Make a single-use registration URL; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    invite = RegistrationInvite(token_hash=_hash(token), created_by=created_by,
                                expires_at=utcnow() + timedelta(seconds=ttl_seconds))
    db.session.add(invite)
    db.session.flush()
    audit.record(created_by, "registration_url.created", "registration_invite", invite.id,
                 {"expires_at": invite.expires_at.isoformat()})
    return f"{base_url.rstrip('/')}/lti/register/{token}", invite


def usable_invite(token: str) -> RegistrationInvite:
    """The invite for ``token`` if it is unused and unexpired; else a RegistrationError."""
    invite = db.session.scalar(
        sa.select(RegistrationInvite).where(RegistrationInvite.token_hash == _hash(token))
    )
    if invite is None:
        raise RegistrationError("invite_unknown", gettext(
            "This registration URL is not valid. Ask the tool's administrator for a new one."),
            status=404)
    if invite.used_at is not None:
        raise RegistrationError("invite_used", gettext(
            "This registration URL has already been used. Ask the tool's administrator for a "
            "new one."), status=410)
    if invite.expires_at < utcnow():
        raise RegistrationError("invite_expired", gettext(
            "This registration URL has expired. Ask the tool's administrator for a new one."),
            status=410)
    return invite


def claim_invite(invite: RegistrationInvite) -> None:
    """Spend the invite before Moodle is contacted, in the request's transaction: a parallel
    use waits for this transaction (row lock on PostgreSQL, write lock on SQLite) and then
    finds it spent, so one invite makes one registration on both sides. If the registration
    fails, the rollback gives the invite back for another try."""
    spent = db.session.execute(
        sa.update(RegistrationInvite)
        .where(RegistrationInvite.id == invite.id, RegistrationInvite.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise RegistrationError("invite_used", gettext(
            "This registration URL has already been used. Ask the tool's administrator for a "
            "new one."), status=410)


def complete_registration(invite: RegistrationInvite, config: PlatformConfiguration,
                          result: RegistrationResult) -> tuple[Platform, bool]:
    """Store what Moodle answered (after :func:`claim_invite` in the same transaction).
    Registering the same (issuer, client id) again updates it. Returns (the platform,
    whether it was already registered: an update)."""
    existed = db.session.scalar(sa.select(Platform.id).where(
        Platform.issuer == config.issuer.rstrip("/"), Platform.client_id == result.client_id))
    platform = upsert_platform(
        issuer=config.issuer, client_id=result.client_id,
        auth_login_url=config.authorization_endpoint, auth_token_url=config.token_endpoint,
        key_set_url=config.jwks_uri, deployment_id=result.deployment_id,
        name=None, actor=invite.created_by, via="dynamic",
    )
    platform.product_family_code = config.product_family_code or platform.product_family_code
    platform.product_version = config.version or platform.product_version
    platform.granted_scopes = " ".join(result.scopes)
    invite.platform_id = platform.id
    db.session.flush()
    return platform, existed is not None


def upsert_platform(*, issuer: str, client_id: str, auth_login_url: str, auth_token_url: str,
                    key_set_url: str, deployment_id: str | None, name: str | None, actor: str,
                    via: str = "manual") -> Platform:
    """Create or update the registration (issuer, client_id) and add the deployment."""
    issuer = issuer.rstrip("/")
    platform = db.session.scalar(
        sa.select(Platform).where(Platform.issuer == issuer, Platform.client_id == client_id)
    )
    created = platform is None
    if platform is None:
        platform = Platform(issuer=issuer, client_id=client_id, registered_via=via,
                            auth_login_url=auth_login_url, auth_token_url=auth_token_url,
                            key_set_url=key_set_url, name=name or "")
        db.session.add(platform)
    else:
        platform.auth_login_url = auth_login_url
        platform.auth_token_url = auth_token_url
        platform.key_set_url = key_set_url
        platform.active = True
        if name:
            platform.name = name
    db.session.flush()
    audit.record(actor, "platform.registered" if created else "platform.updated", "platform",
                 platform.id, {"issuer": issuer, "client_id": client_id, "via": via})
    if deployment_id:
        add_deployment(platform, deployment_id, actor)
    return platform


def add_deployment(platform: Platform, deployment_id: str, actor: str) -> Deployment:
    deployment = db.session.scalar(sa.select(Deployment).where(
        Deployment.platform_id == platform.id, Deployment.deployment_id == deployment_id))
    if deployment is None:
        deployment = Deployment(platform_id=platform.id, deployment_id=deployment_id)
        db.session.add(deployment)
        db.session.flush()
        audit.record(actor, "deployment.added", "deployment", deployment.id,
                     {"platform_id": platform.id, "deployment_id": deployment_id})
    elif not deployment.active:
        deployment.active = True
        audit.record(actor, "deployment.reactivated", "deployment", deployment.id, {})
    return deployment


def list_platforms() -> list[Platform]:
    return list(db.session.scalars(sa.select(Platform).order_by(Platform.issuer, Platform.id)))


def find_platforms(ref: str) -> list[Platform]:
    """Platforms matching ``ref``: a numeric id, a client id or an issuer."""
    conditions = [Platform.client_id == ref, Platform.issuer == ref.rstrip("/")]
    if ref.isdigit():
        conditions.append(Platform.id == int(ref))
    return list(db.session.scalars(sa.select(Platform).where(sa.or_(*conditions))))


def deactivate_platform(platform: Platform, actor: str) -> None:
    if platform.active:
        platform.active = False
        audit.record(actor, "platform.deactivated", "platform", platform.id, {})


def deactivate_deployment(deployment: Deployment, actor: str) -> None:
    if deployment.active:
        deployment.active = False
        audit.record(actor, "deployment.deactivated", "deployment", deployment.id, {})
