"""Granting, revoking and checking the roles the tool holds (ALS members, tool admins).

Every grant and revocation is audited; nothing is ever deleted. Functions flush, the caller
(request or CLI command) commits.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from lti_tool.audit import service as audit
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.roles.models import ALS, ROLE_LABELS, TOOL_ADMIN, RoleGrant, RoleRevocation


class RoleError(Exception):
    """A grant or revocation that cannot be done; the message says why, in plain English."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _identity(sub: str | None, email: str | None) -> tuple[str | None, str | None]:
    sub = (sub or "").strip() or None
    email = normalise_email(email or "") or None
    if (sub is None) == (email is None):
        raise RoleError("Name the person by their Moodle user id or by their email address "
                        "(one of the two).")
    if email is not None and ("@" not in email or len(email) > 320):
        raise RoleError(f"{email!r} is not an email address.")
    if sub is not None and len(sub) > 255:
        raise RoleError("That Moodle user id is too long.")
    return sub, email


def _check_role(role: str) -> None:
    if role not in ROLE_LABELS:
        raise RoleError(f"Unknown role {role!r}.")


def _active() -> sa.Select[RoleGrant]:
    return (sa.select(RoleGrant).outerjoin(RoleRevocation)
            .where(RoleRevocation.id.is_(None))
            .options(selectinload(RoleGrant.person), selectinload(RoleGrant.revocation)))


def _find_person(platform_id: int, sub: str | None, email: str | None) -> Person | None:
    if sub is not None:
        return db.session.scalar(sa.select(Person).where(Person.platform_id == platform_id,
                                                         Person.sub == sub))
    people = list(db.session.scalars(sa.select(Person).where(
        Person.platform_id == platform_id, sa.func.lower(Person.email) == email)))
    if len(people) > 1:
        raise RoleError(f"{len(people)} people on this platform have the email {email}; "
                        "name the person by their Moodle user id instead.")
    return people[0] if people else None


def grant(platform_id: int, role: str, *, actor: str, sub: str | None = None,
          email: str | None = None) -> tuple[RoleGrant, bool]:
    """Grant ``role`` on a platform to the person with Moodle user id ``sub`` or ``email``.

    Works before the person has ever launched the tool: the grant then waits and is tied to
    them at their first launch (:func:`resolve_grants`). Returns ``(grant, created)``;
    granting a role someone already holds changes nothing and returns the existing grant.
    Raises :class:`RoleError` for a bad or ambiguous identity.
    """
    _check_role(role)
    sub, email = _identity(sub, email)
    person = _find_person(platform_id, sub, email)
    stmt = _active().where(RoleGrant.platform_id == platform_id, RoleGrant.role == role)
    if person is not None:
        stmt = stmt.where(RoleGrant.person_id == person.id)
    elif sub is not None:
        stmt = stmt.where(RoleGrant.person_id.is_(None), RoleGrant.sub == sub)
    else:
        stmt = stmt.where(RoleGrant.person_id.is_(None), RoleGrant.email == email)
    existing = db.session.scalars(stmt).first()
    if existing is not None:
        return existing, False
    now = utcnow()
    row = RoleGrant(platform_id=platform_id, role=role, sub=sub, email=email,
                    person_id=person.id if person else None, granted_by=actor, granted_at=now,
                    resolved_at=now if person else None)
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "role.granted", "role_grant", row.id,
                 {"platform_id": platform_id, "role": role, "sub": sub, "email": email,
                  "person_id": row.person_id})
    return row, True


def revoke_grant(row: RoleGrant, *, actor: str) -> RoleRevocation:
    """End one grant (a new revocation row; the grant itself stays)."""
    if row.revocation is not None:
        raise RoleError("That role was already revoked.")
    revocation = RoleRevocation(grant_id=row.id, revoked_by=actor, revoked_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(revocation)
    except IntegrityError as exc:  # someone else revoked it at the same moment
        raise RoleError("That role was already revoked.") from exc
    audit.record(actor, "role.revoked", "role_grant", row.id,
                 {"platform_id": row.platform_id, "role": row.role,
                  "person_id": row.person_id, "revocation_id": revocation.id})
    return revocation


def revoke(platform_id: int, role: str, *, actor: str, sub: str | None = None,
           email: str | None = None) -> list[RoleGrant]:
    """Revoke every active grant of ``role`` on the platform held by the person with Moodle
    user id ``sub`` or ``email`` (whether the grant named them that way or they launched
    since). Raises :class:`RoleError` when there is none."""
    _check_role(role)
    sub, email = _identity(sub, email)
    stmt = (_active().outerjoin(Person, RoleGrant.person_id == Person.id)
            .where(RoleGrant.platform_id == platform_id, RoleGrant.role == role))
    if sub is not None:
        stmt = stmt.where(sa.or_(RoleGrant.sub == sub, Person.sub == sub))
    else:
        stmt = stmt.where(sa.or_(RoleGrant.email == email, sa.func.lower(Person.email) == email))
    rows = list(db.session.scalars(stmt))
    if not rows:
        raise RoleError(f"No one matching {sub or email} holds the role "
                        f"'{ROLE_LABELS[role]}' on this platform.")
    for row in rows:
        revoke_grant(row, actor=actor)
    return rows


def resolve_grants(person: Person) -> int:
    """Tie waiting grants that name this person (by Moodle user id or email) to them.

    Called at every launch, after the person is recorded; returns how many were tied.
    """
    conditions = [RoleGrant.sub == person.sub]
    if person.email:
        conditions.append(RoleGrant.email == normalise_email(person.email))
    rows = list(db.session.scalars(_active().where(
        RoleGrant.platform_id == person.platform_id, RoleGrant.person_id.is_(None),
        sa.or_(*conditions))))
    for row in rows:
        row.person_id = person.id
        row.resolved_at = utcnow()
        db.session.flush()
        audit.record(f"person:{person.id}", "role.grant_resolved", "role_grant", row.id,
                     {"person_id": person.id, "role": row.role})
    return len(rows)


def holds(person: Person, role: str) -> bool:
    """Whether the person holds a (granted, unrevoked) ``role`` on their platform."""
    found = db.session.scalar(
        sa.select(RoleGrant.id).outerjoin(RoleRevocation)
        .where(RoleRevocation.id.is_(None), RoleGrant.person_id == person.id,
               RoleGrant.platform_id == person.platform_id, RoleGrant.role == role)
        .limit(1))
    return found is not None


def is_als(person: Person) -> bool:
    """Whether the person is an ALS team member on their platform."""
    return holds(person, ALS)


def is_tool_admin(person: Person) -> bool:
    """Moodle site administrators (by their last launch) and people granted the role."""
    return bool(person.is_platform_admin) or holds(person, TOOL_ADMIN)


def list_grants(platform_id: int | None = None, *, include_revoked: bool = False,
                role: str | None = None) -> list[RoleGrant]:
    """Grants, newest first (active ones only unless ``include_revoked``)."""
    stmt = _active() if not include_revoked else sa.select(RoleGrant).options(
        selectinload(RoleGrant.person), selectinload(RoleGrant.revocation))
    if platform_id is not None:
        stmt = stmt.where(RoleGrant.platform_id == platform_id)
    if role is not None:
        stmt = stmt.where(RoleGrant.role == role)
    return list(db.session.scalars(stmt.order_by(RoleGrant.platform_id, RoleGrant.role,
                                                 RoleGrant.granted_at.desc(),
                                                 RoleGrant.id.desc())))


def get_grant(grant_id: int, platform_id: int) -> RoleGrant | None:
    return db.session.scalar(sa.select(RoleGrant).where(RoleGrant.id == grant_id,
                                                        RoleGrant.platform_id == platform_id))


def als_members(platform_id: int) -> list[Person]:
    """People who hold the ALS role on the platform (resolved grants only)."""
    return list(db.session.scalars(
        sa.select(Person).join(RoleGrant, RoleGrant.person_id == Person.id)
        .outerjoin(RoleRevocation).where(RoleRevocation.id.is_(None),
                                         RoleGrant.platform_id == platform_id,
                                         RoleGrant.role == ALS)
        .distinct().order_by(Person.id)))


__all__ = ["ALS", "TOOL_ADMIN", "RoleError", "grant", "revoke", "revoke_grant",
           "resolve_grants", "holds", "is_als", "is_tool_admin", "list_grants", "get_grant",
           "als_members"]
