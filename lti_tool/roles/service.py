"""Granting, revoking and checking the roles the tool holds (ALS members, tool admins).

Every grant and revocation is audited; nothing is ever deleted. Functions flush, the caller
(request or CLI command) commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from lti_tool.audit import service as audit
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.notifications.addresses import usable_address
from lti_tool.people.models import Person
from lti_tool.people.roles import confirmation_cutoff
from lti_tool.roles.models import (
    ALS,
    APPEAL_REVIEWER,
    QUALITY_LEAD,
    ROLE_LABELS,
    TOOL_ADMIN,
    RoleGrant,
    RoleRevocation,
)


class RoleError(Exception):
    """A grant or revocation that cannot be done; the message says why, in plain English."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def valid_email(raw: str) -> str:
    """The address, normalised and lower-cased, if ``raw`` is exactly one well-formed email
    address (the same rule as for sending email); else :class:`RoleError`."""
    address = usable_address(raw)
    if not address:
        raise RoleError(gettext("That is not one valid email address: give a single address "
                                "such as name@college.ac.uk, with no name, list or spaces "
                                "around it."))
    return normalise_email(address)


def parse_holder(raw: str) -> dict[str, str]:
    """What an administrator typed to name someone: ``{"email": ...}`` for one valid
    address, ``{"sub": ...}`` for a Moodle user id (a number); else :class:`RoleError`."""
    text = (raw or "").strip()
    if "@" in text:
        return {"email": valid_email(text)}
    if text.isdigit():
        return {"sub": text}
    raise RoleError(gettext("Enter a Moodle user ID (the number after id= in their profile's "
                            "address) or one email address, or find the person below."))


@dataclass(frozen=True)
class KnownPerson:
    """Someone the tool knows on the platform: from a launch or a Names and Roles roster."""

    person: Person
    launched: bool
    courses: list[str]


def find_people(platform_id: int, search: str, limit: int = 20) -> list[KnownPerson]:
    """People of the platform whose name, email or Moodle user id contains ``search``
    (case-insensitive), by name, with the courses they are in; at most ``limit``."""
    from lti_tool.people.models import Course, CourseMember, CourseRole

    needle = " ".join(search.split())[:100].lower()
    if not needle:
        return []
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    people = list(db.session.scalars(
        sa.select(Person).where(Person.platform_id == platform_id, sa.or_(
            sa.func.lower(Person.name).like(pattern, escape="\\"),
            sa.func.lower(Person.email).like(pattern, escape="\\"),
            sa.func.lower(Person.given_name + " " + Person.family_name).like(
                pattern, escape="\\"),
            Person.sub == needle))
        .order_by(sa.func.lower(Person.name), Person.id).limit(limit)))
    ids = [p.id for p in people]
    courses: dict[int, set[str]] = {}
    if ids:
        for person_id, title in db.session.execute(
                sa.select(CourseRole.person_id, Course.title)
                .join(Course, Course.id == CourseRole.course_id)
                .where(CourseRole.person_id.in_(ids))):
            courses.setdefault(person_id, set()).add(title)
        by_sub = {p.sub: p.id for p in people}
        for sub, title in db.session.execute(
                sa.select(CourseMember.sub, Course.title)
                .join(Course, Course.id == CourseMember.course_id)
                .where(Course.platform_id == platform_id,
                       CourseMember.sub.in_(list(by_sub)))):
            courses.setdefault(by_sub[sub], set()).add(title)
    return [KnownPerson(p, p.first_launch_at is not None, sorted(courses.get(p.id, set())))
            for p in people]


def _identity(sub: str | None, email: str | None) -> tuple[str | None, str | None]:
    sub = (sub or "").strip() or None
    email = (email or "").strip() or None
    if (sub is None) == (email is None):
        raise RoleError(gettext("Name the person by their Moodle user id or by their email "
                                "address (one of the two)."))
    if email is not None:
        email = valid_email(email)
    if sub is not None and len(sub) > 255:
        raise RoleError(gettext("That Moodle user id is too long."))
    return sub, email


def _check_role(role: str) -> None:
    if role not in ROLE_LABELS:
        raise RoleError(gettext("Unknown role %(role)s.", role=repr(role)))


def _active() -> sa.Select[RoleGrant]:
    return (sa.select(RoleGrant).where(RoleGrant.revoked_at.is_(None))
            .options(selectinload(RoleGrant.person), selectinload(RoleGrant.revocation)))


def _find_person(platform_id: int, sub: str) -> Person | None:
    return db.session.scalar(sa.select(Person).where(Person.platform_id == platform_id,
                                                     Person.sub == sub))


def _existing(platform_id: int, role: str, person: Person | None, sub: str | None,
              email: str | None) -> RoleGrant | None:
    """The active grant this grant would duplicate (the unique indexes' rule), if any."""
    stmt = _active().where(RoleGrant.platform_id == platform_id, RoleGrant.role == role)
    if person is not None:
        stmt = stmt.where(RoleGrant.person_id == person.id)
    elif sub is not None:
        stmt = stmt.where(RoleGrant.person_id.is_(None), RoleGrant.sub == sub)
    else:
        stmt = stmt.where(RoleGrant.person_id.is_(None), RoleGrant.email == email)
    return db.session.scalars(stmt.order_by(RoleGrant.id)).first()


def grant(platform_id: int, role: str, *, actor: str, sub: str | None = None,
          email: str | None = None) -> tuple[RoleGrant, bool]:
    """Grant ``role`` on a platform to the person with Moodle user id ``sub`` or ``email``.

    By Moodle user id the grant is tied to the person at once, or waits for their first
    launch. By email it always waits for a tool administrator to confirm who launched with
    that address (:func:`confirm_grant`). Returns ``(grant, created)``: granting what the
    holder already has (even at the same moment from another request) changes nothing and
    returns the existing grant. Raises :class:`RoleError` for a bad identity.
    """
    _check_role(role)
    sub, email = _identity(sub, email)
    person = _find_person(platform_id, sub) if sub is not None else None
    existing = _existing(platform_id, role, person, sub, email)
    if existing is not None:
        return existing, False
    now = utcnow()
    row = RoleGrant(platform_id=platform_id, role=role, sub=sub, email=email,
                    person_id=person.id if person else None, granted_by=actor, granted_at=now,
                    resolved_at=now if person else None)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:  # the same grant was just made by another request
        existing = _existing(platform_id, role, person, sub, email)
        if existing is None:
            raise
        return existing, False
    audit.record(actor, "role.granted", "role_grant", row.id,
                 {"platform_id": platform_id, "role": role, "sub": sub, "email": email,
                  "person_id": row.person_id})
    return row, True


def _holder_grants(row: RoleGrant) -> list[RoleGrant]:
    """Every active grant of ``row``'s role held by, or waiting for, the same holder: the
    person's own grants and waiting ones naming their Moodle user id or email. They are
    locked first (row locks on PostgreSQL, the write lock on SQLite) and read afresh, so
    two revocations at once end each grant once and the second finds nothing left."""
    person = row.person
    if person is None:
        same = (RoleGrant.sub == row.sub) if row.sub else (RoleGrant.email == row.email)
        holder = sa.or_(RoleGrant.id == row.id, sa.and_(RoleGrant.person_id.is_(None), same))
    else:
        named = [RoleGrant.sub == person.sub]
        if person.email:
            named.append(RoleGrant.email == normalise_email(person.email))
        holder = sa.or_(RoleGrant.person_id == person.id,
                        sa.and_(RoleGrant.person_id.is_(None), sa.or_(*named)))
    where = [RoleGrant.platform_id == row.platform_id, RoleGrant.role == row.role, holder]
    db.session.execute(sa.update(RoleGrant).where(*where, RoleGrant.revoked_at.is_(None))
                       .values(granted_at=RoleGrant.granted_at)
                       .execution_options(synchronize_session=False))
    return list(db.session.scalars(_active().where(*where).order_by(RoleGrant.id)
                                   .execution_options(populate_existing=True)))


def _end(row: RoleGrant, actor: str, at: datetime, reason: str | None = None) -> bool:
    """Write the revocation of one grant; False if another request revoked it first."""
    revocation = RoleRevocation(grant_id=row.id, revoked_by=actor, revoked_at=at)
    try:
        with db.session.begin_nested():
            db.session.add(revocation)
            row.revoked_at = at
    except IntegrityError:  # someone else revoked it at the same moment
        db.session.refresh(row)
        return False
    audit.record(actor, "role.revoked", "role_grant", row.id,
                 {"platform_id": row.platform_id, "role": row.role,
                  "person_id": row.person_id, "revocation_id": revocation.id,
                  **({"reason": reason} if reason else {})})
    return True


def revoke_grant(row: RoleGrant, *, actor: str) -> list[RoleGrant]:
    """End the role ``row`` gives: this grant and every other active grant of the same role
    for the same holder (new revocation rows; the grants stay). Returns the grants ended.
    Raises :class:`RoleError` if nothing was left to end."""
    now = utcnow()
    ended = [g for g in _holder_grants(row) if _end(g, actor, now)]
    if not ended:
        raise RoleError(gettext("That role was already revoked."))
    return ended


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
        raise RoleError(gettext("No one matching %(holder)s holds the role '%(role)s' on this "
                                "platform.", holder=sub or email, role=ROLE_LABELS[role]))
    now = utcnow()
    ended: dict[int, RoleGrant] = {}
    for row in rows:
        for found in _holder_grants(row):
            if found.id not in ended and _end(found, actor, now):
                ended[found.id] = found
    if not ended:
        raise RoleError(gettext("That role was already revoked."))
    return sorted(ended.values(), key=lambda r: r.id)


# How long after a revocation it can be undone from the roles page.
UNDO_WINDOW = timedelta(minutes=15)


def undoable(row: RoleGrant, at: datetime | None = None) -> bool:
    """Whether ``row``'s revocation can still be undone: revoked less than
    :data:`UNDO_WINDOW` ago, and the holder has not been given the role again since."""
    if row.revoked_at is None or row.revoked_at < (at or utcnow()) - UNDO_WINDOW:
        return False
    return _existing(row.platform_id, row.role, row.person, row.sub, row.email) is None


def undo_revocation(row: RoleGrant, *, actor: str) -> RoleGrant:
    """Give back the role a revocation just ended: a new grant with the same scope (platform,
    role and holder), audited as an undo of that revocation. Raises :class:`RoleError` when
    the window has passed or the holder has the role again."""
    if not undoable(row):
        raise RoleError(gettext("That revocation can no longer be undone: give the role again "
                                "instead."))
    now = utcnow()
    again = RoleGrant(platform_id=row.platform_id, role=row.role, sub=row.sub,
                      email=row.email, person_id=row.person_id, granted_by=actor,
                      granted_at=now, resolved_at=now if row.person_id else None)
    try:
        with db.session.begin_nested():
            db.session.add(again)
    except IntegrityError as exc:  # given again at the same moment by another request
        raise RoleError(gettext("They have that role again already.")) from exc
    audit.record(actor, "role.revocation_undone", "role_grant", again.id,
                 {"platform_id": row.platform_id, "role": row.role,
                  "person_id": row.person_id, "sub": row.sub, "email": row.email,
                  "undoes_grant_id": row.id,
                  "revocation_id": row.revocation.id if row.revocation else None})
    return again


def _tie(row: RoleGrant, person: Person, actor: str, action: str) -> RoleGrant:
    """Tie a waiting grant to ``person``; if they already hold the role, the waiting grant
    is ended instead and their existing grant returned."""
    now = utcnow()
    try:
        with db.session.begin_nested():
            row.person_id = person.id
            row.resolved_at = now
    except IntegrityError:
        db.session.refresh(row)
        existing = _existing(row.platform_id, row.role, person, None, None)
        _end(row, actor, now, reason="already_held")
        if existing is None:
            raise RoleError(gettext("That grant changed meanwhile. Reload the page.")) from None
        return existing
    audit.record(actor, action, "role_grant", row.id,
                 {"person_id": person.id, "role": row.role})
    return row


def resolve_grants(person: Person) -> int:
    """Tie waiting grants that name this person by Moodle user id to them (at their first
    launch). Grants by email are never tied here: see :func:`confirm_grant`."""
    rows = list(db.session.scalars(_active().where(
        RoleGrant.platform_id == person.platform_id, RoleGrant.person_id.is_(None),
        RoleGrant.sub == person.sub)))
    for row in rows:
        _tie(row, person, f"person:{person.id}", "role.grant_resolved")
    return len(rows)


def waiting_subs(platform_id: int) -> set[str]:
    """Moodle user ids that active grants on the platform wait for (one query)."""
    return set(db.session.scalars(sa.select(RoleGrant.sub).where(
        RoleGrant.platform_id == platform_id, RoleGrant.revoked_at.is_(None),
        RoleGrant.person_id.is_(None), RoleGrant.sub.is_not(None))))


def email_matches(grants: list[RoleGrant]) -> dict[int, list[Person]]:
    """For each waiting grant by email, the people on its platform who last launched with
    that address (for an administrator to confirm one), oldest first."""
    waiting = [r for r in grants if r.person_id is None and r.email and r.active]
    if not waiting:
        return {}
    # Only people who launched: a roster's address is Moodle's word, not a launch's.
    people = list(db.session.scalars(sa.select(Person).where(
        Person.platform_id.in_({r.platform_id for r in waiting}),
        Person.first_launch_at.is_not(None),
        sa.func.lower(Person.email).in_({r.email for r in waiting}))
        .order_by(Person.created_at, Person.id)))
    return {r.id: [p for p in people if p.platform_id == r.platform_id
                   and normalise_email(p.email) == r.email] for r in waiting}


def confirm_grant(row: RoleGrant, person_id: int, *, actor: str) -> RoleGrant:
    """An administrator confirms that the person who launched with a waiting grant's email
    address is the one meant: the grant is tied to them and takes effect. Refused unless
    the grant is still waiting and the person's current email is that address."""
    person = db.session.get(Person, person_id)
    if (not row.active or row.person_id is not None or not row.email or person is None
            or person.platform_id != row.platform_id
            or normalise_email(person.email) != row.email):
        raise RoleError(gettext(
            "That grant is no longer waiting for this person: reload the page."))
    return _tie(row, person, actor, "role.grant_confirmed")


def holds(person: Person, role: str) -> bool:
    """Whether the person holds a (granted, unrevoked) ``role`` on their platform."""
    found = db.session.scalar(
        sa.select(RoleGrant.id)
        .where(RoleGrant.revoked_at.is_(None), RoleGrant.person_id == person.id,
               RoleGrant.platform_id == person.platform_id, RoleGrant.role == role)
        .limit(1))
    return found is not None


def is_als(person: Person) -> bool:
    """Whether the person is an ALS team member on their platform."""
    return holds(person, ALS)


def is_appeal_reviewer(person: Person) -> bool:
    """Whether the person may review appeals on their platform (the role is granted like
    ALS membership)."""
    return holds(person, APPEAL_REVIEWER)


def is_tool_admin(person: Person, held: set[str] | None = None) -> bool:
    """Moodle site administrators (as their last launch said, while Moodle's word still
    counts: ``COURSE_ROLE_MAX_AGE_HOURS``) and people granted the role (``held``: the
    person's roles from :func:`held_roles`, when already read)."""
    return (bool(person.is_platform_admin) and person.last_launch_at >= confirmation_cutoff()
            ) or (TOOL_ADMIN in held if held is not None else holds(person, TOOL_ADMIN))


def held_roles(person: Person) -> set[str]:
    """Every role granted to the person (unrevoked) on their platform, in one query."""
    return set(db.session.scalars(
        sa.select(RoleGrant.role).distinct()
        .where(RoleGrant.revoked_at.is_(None), RoleGrant.person_id == person.id,
               RoleGrant.platform_id == person.platform_id)))


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


def holders(platform_id: int, *role_names: str) -> list[Person]:
    """People who hold any of ``role_names`` on the platform (resolved grants only)."""
    return list(db.session.scalars(
        sa.select(Person).join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(RoleGrant.revoked_at.is_(None), RoleGrant.platform_id == platform_id,
               RoleGrant.role.in_(role_names))
        .distinct().order_by(Person.id)))


def als_members(platform_id: int) -> list[Person]:
    """People who hold the ALS role on the platform (resolved grants only)."""
    return holders(platform_id, ALS)


def is_quality_lead(person: Person) -> bool:
    return holds(person, QUALITY_LEAD)


def is_reporter(person: Person) -> bool:
    """Whether the person reports cases to the awarding body: the ALS team and the quality
    lead (tool administrators may too, but are not emailed)."""
    return is_als(person) or is_quality_lead(person)


def reporters(platform_id: int) -> list[Person]:
    """The people emailed when a case must be reported: ALS members and quality leads."""
    return holders(platform_id, ALS, QUALITY_LEAD)


__all__ = ["ALS", "TOOL_ADMIN", "RoleError", "grant", "revoke", "revoke_grant",
           "resolve_grants", "confirm_grant", "email_matches", "valid_email", "holds",
           "is_als", "is_appeal_reviewer", "is_tool_admin", "held_roles", "list_grants",
           "get_grant", "als_members", "holders", "is_quality_lead", "is_reporter",
           "reporters", "QUALITY_LEAD"]
