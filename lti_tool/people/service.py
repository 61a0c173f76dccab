"""Recording who launched from where: people, courses, placements and their roles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from lti_tool.audit import service as audit
from lti_tool.dbtypes import UTCDateTime, utcnow
from lti_tool.extensions import db
from lti_tool.lti.launch import Launch
from lti_tool.lti.sesskey import seal_deep_linking, strip_sesskey
from lti_tool.notifications.service import take_destination
from lti_tool.people.models import Course, CourseMember, CourseRole, Person, Placement
from lti_tool.people.roles import (
    ADMIN,
    LEARNER,
    STAFF,
    at_least,
    confirmation_cutoff,
    role_from_claims,
)
from lti_tool.platforms.models import Deployment, Platform
from lti_tool.roles import service as roles

M = TypeVar("M")
# The key of record_launch's result naming the page an emailed link asked for.
NEXT_PATH = "next_path"


def _get_or_create(model: type[M], where: dict[str, Any],
                   create: Callable[[], M]) -> tuple[M, bool]:
    """Select by ``where``; insert if missing. Safe when two launches race to create it."""
    stmt = sa.select(model).filter_by(**where)
    found = db.session.scalar(stmt)
    if found is not None:
        return found, False
    try:
        with db.session.begin_nested():
            obj = create()
            db.session.add(obj)
    except IntegrityError:
        found = db.session.scalar(stmt)
        assert found is not None
        return found, False
    return obj, True


def _claim_or_kept(column: Any, name: str) -> Any:
    """The launch's value for ``column`` unless it is empty (Moodle may leave it out)."""
    return sa.func.coalesce(sa.func.nullif(sa.bindparam(name, type_=sa.String), ""), column)


# Built once (every launch runs it).
_UPDATE_PERSON = (
    sa.update(Person)
    .where(Person.platform_id == sa.bindparam("key_platform"),
           Person.sub == sa.bindparam("key_sub"))
    .values(name=_claim_or_kept(Person.name, "new_name"),
            given_name=_claim_or_kept(Person.given_name, "new_given_name"),
            family_name=_claim_or_kept(Person.family_name, "new_family_name"),
            email=_claim_or_kept(Person.email, "new_email"),
            username=_claim_or_kept(Person.username, "new_username"),
            sourcedid=_claim_or_kept(Person.sourcedid, "new_sourcedid"),
            is_platform_admin=sa.bindparam("new_admin", type_=sa.Boolean),
            last_launch_at=sa.bindparam("new_at", type_=UTCDateTime))
    .returning(Person))


def record_launch(launch: Launch) -> dict[str, Any]:
    """Upsert the person, course, placement and role a launch names.

    Returns the data the server-side session keeps for this launch.
    """
    role = role_from_claims(launch.roles)
    now = utcnow()
    # A returning person: one UPDATE … RETURNING (the launch path's most common case).
    returning: Person | None = db.session.scalar(_UPDATE_PERSON, {
        "key_platform": launch.platform_id, "key_sub": launch.sub,
        "new_name": launch.name, "new_given_name": launch.given_name,
        "new_family_name": launch.family_name, "new_email": launch.email,
        "new_username": launch.username, "new_sourcedid": launch.sourcedid,
        "new_admin": role == ADMIN, "new_at": now})
    if returning is not None:
        person, created = returning, False
    else:
        person, created = _get_or_create(
            Person, {"platform_id": launch.platform_id, "sub": launch.sub},
            lambda: Person(platform_id=launch.platform_id, sub=launch.sub),
        )
        person.name = launch.name or person.name
        person.given_name = launch.given_name or person.given_name
        person.family_name = launch.family_name or person.family_name
        person.email = launch.email or person.email
        person.username = launch.username or person.username
        person.sourcedid = launch.sourcedid or person.sourcedid
        person.is_platform_admin = role == ADMIN
        person.last_launch_at = now
    first_launch = person.first_launch_at is None
    if first_launch:  # a roster member known before their first launch
        person.first_launch_at = person.last_launch_at
    # Where an emailed link asked to go: on the row just loaded, cleared in the same UPDATE.
    next_path = take_destination(person)
    db.session.flush()
    if created:
        audit.record(f"platform:{launch.platform_id}", "person.created", "person", person.id,
                     {"sub": launch.sub})
    # Roles granted by Moodle user id before the tool knew this person take hold now;
    # grants to a known person are tied to them when made, so a steady-state launch skips
    # the lookup. A grant by email never takes hold by itself (an admin confirms who it is).
    if first_launch:
        roles.resolve_grants(person)

    platform = launch.platform_row or db.session.get(Platform, launch.platform_id)
    assert platform is not None
    family = launch.tool_platform.get("product_family_code")
    version = launch.tool_platform.get("version")
    guid = launch.tool_platform.get("guid")
    if family and platform.product_family_code != family:
        platform.product_family_code = str(family)
    if version and platform.product_version != version:
        platform.product_version = str(version)
    if guid and platform.platform_guid != guid:
        platform.platform_guid = str(guid)

    course: Course | None = None
    placement: Placement | None = None
    context_id = launch.context.get("id")
    if isinstance(context_id, str) and context_id:
        course = _upsert_course(launch, context_id, person)
        if role is not None:
            _set_course_role(person.id, course.id, role)
        link_id = launch.resource_link.get("id")
        if isinstance(link_id, str) and link_id:
            placement = _upsert_placement(launch, course, link_id, person)

    return {
        "platform_id": launch.platform_id,
        "deployment_id": launch.deployment_id,
        "person_id": person.id,
        "course_id": course.id if course else None,
        "placement_id": placement.id if placement else None,
        "role": role,
        "message_type": launch.message_type,
        "for_user": launch.for_user,
        "locale": launch.locale,
        # Moodle's sesskey never goes into the session in clear.
        "return_url": strip_sesskey(launch.return_url),
        "deep_linking": (seal_deep_linking(launch.deep_linking,
                                           current_app.config["SECRET_KEY"])
                         if launch.deep_linking else None),
        # Not part of the session's launch: the caller pops it (see take_destination).
        NEXT_PATH: next_path,
    }


def _upsert_course(launch: Launch, context_id: str, person: Person) -> Course:
    course, created = _get_or_create(
        Course, {"platform_id": launch.platform_id, "context_id": context_id},
        lambda: Course(platform_id=launch.platform_id, context_id=context_id),
    )
    course.label = str(launch.context.get("label") or course.label)
    course.title = str(launch.context.get("title") or course.title)
    db.session.flush()
    if created:
        audit.record(f"person:{person.id}", "course.created", "course", course.id,
                     {"context_id": context_id})
    return course


def _upsert_placement(launch: Launch, course: Course, link_id: str, person: Person) -> Placement:
    deployment = launch.deployment_row or db.session.scalar(sa.select(Deployment).where(
        Deployment.platform_id == launch.platform_id,
        Deployment.deployment_id == launch.deployment_id))
    assert deployment is not None  # the launch was validated against it
    placement, created = _get_or_create(
        Placement, {"course_id": course.id, "resource_link_id": link_id},
        lambda: Placement(course_id=course.id, resource_link_id=link_id,
                          deployment_id=deployment.id),
    )
    placement.title = str(launch.resource_link.get("title") or placement.title)
    placement.description = str(launch.resource_link.get("description") or "")
    placement.lineitems_url = launch.ags.get("lineitems") or placement.lineitems_url
    # Moodle sends "lineitem" only while the link has exactly one line item.
    if launch.ags.get("lineitem"):
        placement.lineitem_url = launch.ags["lineitem"]
    placement.memberships_url = launch.nrps_url or placement.memberships_url
    db.session.flush()
    if created:
        audit.record(f"person:{person.id}", "placement.created", "placement", placement.id,
                     {"resource_link_id": link_id})
    return placement


# Built once (every launch runs it): building it cost more CPU than running it.
_CONFIRM_COURSE_ROLE = (
    sa.update(CourseRole)
    .where(CourseRole.person_id == sa.bindparam("person"),
           CourseRole.course_id == sa.bindparam("course"))
    .values(role=sa.bindparam("new_role", type_=sa.String),
            confirmed_at=sa.bindparam("at", type_=UTCDateTime), revoked_at=None,
            updated_at=sa.case((CourseRole.role != sa.bindparam("new_role", type_=sa.String),
                                sa.bindparam("at", type_=UTCDateTime)),
                               else_=CourseRole.updated_at))
    .execution_options(synchronize_session=False))


def _set_course_role(person_id: int, course_id: int, role: str) -> None:
    """The launch is Moodle confirming ``role`` now: store it, confirmed now and not ended.
    One UPDATE at steady state (the launch path); the row is created on a first launch."""
    now = utcnow()
    updated = db.session.execute(_CONFIRM_COURSE_ROLE, {
        "person": person_id, "course": course_id, "new_role": role, "at": now})
    if updated.rowcount:  # type: ignore[attr-defined]
        return
    row, created = _get_or_create(
        CourseRole, {"person_id": person_id, "course_id": course_id},
        lambda: CourseRole(person_id=person_id, course_id=course_id, role=role,
                           updated_at=now, confirmed_at=now),
    )
    if not created:  # another launch created it a moment ago: this one is as recent
        row.role, row.confirmed_at, row.revoked_at = role, now, None


def is_current(row: CourseRole | None, now: datetime | None = None) -> bool:
    """Whether a stored course role still counts: not ended by a roster refresh and
    confirmed by Moodle within ``COURSE_ROLE_MAX_AGE_HOURS``."""
    return (row is not None and row.revoked_at is None
            and row.confirmed_at >= confirmation_cutoff(now))


def current_role_conditions(now: datetime | None = None) -> list[sa.ColumnElement[bool]]:
    """:func:`is_current` as SQL conditions on :class:`CourseRole`."""
    return [CourseRole.revoked_at.is_(None), CourseRole.confirmed_at >= confirmation_cutoff(now)]


def staff_course_ids(person_id: int) -> set[int]:
    """Courses where the person is staff (or admin) as Moodle currently confirms it."""
    return set(db.session.scalars(sa.select(CourseRole.course_id).where(
        CourseRole.person_id == person_id, CourseRole.role.in_((STAFF, ADMIN)),
        *current_role_conditions())))


def course_learners(course_id: int) -> sa.Select[Any]:
    """The ids of the course's learners: people who launched there as learners and whom no
    roster refresh has since dropped. Not bounded in time: membership is what the course's
    staff see records by, not a right of the learner's."""
    return sa.select(CourseRole.person_id).where(
        CourseRole.course_id == course_id, CourseRole.role == LEARNER,
        CourseRole.revoked_at.is_(None))


def _apply_roster_to_roles(course: Course, members: dict[str, CourseMember],
                           now: datetime) -> None:
    """The roster is Moodle speaking now: it confirms the stored roles of people it lists
    with that role (or a higher one) and ends at once the roles of people it no longer
    lists, or lists as inactive. Moodle lists a non-editing teacher as a Learner, so a
    lower listed role neither confirms nor ends a staff role (its time bound does).
    Site administrators are not enrolled, so the roster never ends an admin role."""
    rows = db.session.execute(
        sa.select(CourseRole, Person.sub).join(Person, Person.id == CourseRole.person_id)
        .where(CourseRole.course_id == course.id)).all()
    for row, sub in rows:
        member = members.get(sub)
        if member is None or not member.active:
            if row.revoked_at is None and row.role != ADMIN:
                row.revoked_at = now
                audit.record("system", "course_role.revoked", "course", course.id,
                             {"person_id": row.person_id, "role": row.role,
                              "reason": "not_in_roster"})
            continue
        listed = role_from_claims(member.roles.split())
        if listed is not None and at_least(listed, row.role):
            row.confirmed_at = now
            row.revoked_at = None
    db.session.flush()


def refresh_roster(course: Course, memberships_url: str) -> list[CourseMember]:
    """Fetch the course's members from Names and Roles (all pages) and store them.

    Members no longer listed are kept but marked inactive (their declarations stay visible).
    Raises :class:`lti_tool.lti.http.FetchFailed` or ``ServiceError`` if Moodle fails.
    """
    from lti_tool.lti import nrps

    platform = db.session.get(Platform, course.platform_id)
    assert platform is not None
    members = nrps.members(platform, memberships_url)
    existing = {m.sub: m for m in db.session.scalars(
        sa.select(CourseMember).where(CourseMember.course_id == course.id))}
    now = utcnow()
    listed = set()
    for member in members:
        listed.add(member.user_id)
        row = existing.get(member.user_id)
        if row is None:
            row = CourseMember(course_id=course.id, sub=member.user_id)
            db.session.add(row)
            existing[member.user_id] = row
        row.name = member.name or " ".join(p for p in (member.given_name, member.family_name)
                                           if p)
        row.email = member.email
        row.roles = " ".join(member.roles)
        row.is_learner = member.is_learner
        row.active = member.status.lower() != "inactive"
        row.fetched_at = now
    for sub, row in existing.items():
        if sub not in listed:
            row.active = False
    course.roster_fetched_at = now
    db.session.flush()
    _apply_roster_to_roles(course, existing, now)
    _know_members(course, [m for m in existing.values() if m.active])
    return sorted(existing.values(), key=lambda m: (m.name.lower(), m.sub))


def _know_members(course: Course, members: list[CourseMember]) -> None:
    """Every member the roster lists becomes a person the tool knows, before their first
    launch: staff can open their panel and record an incident, and administrators can pick
    them for a role. Someone who never launched keeps the roster's name and email; a launch
    is what Moodle says about them from then on. A handful of queries for the whole roster."""
    known = {p.sub: p for p in db.session.scalars(
        sa.select(Person).where(Person.platform_id == course.platform_id,
                                Person.sub.in_(sa.select(CourseMember.sub)
                                               .where(CourseMember.course_id == course.id))))}
    created: list[Person] = []
    for member in members:
        person = known.get(member.sub)
        if person is None:
            person = Person(platform_id=course.platform_id, sub=member.sub, name=member.name,
                            email=member.email)
            db.session.add(person)
            known[member.sub] = person
            created.append(person)
        elif person.first_launch_at is None:
            person.name, person.email = member.name or person.name, member.email
    db.session.flush()
    for person in created:
        audit.record("system", "person.created", "person", person.id,
                     {"sub": person.sub, "from": "roster", "course_id": course.id})
    waiting = roles.waiting_subs(course.platform_id)
    for person in created:
        if person.sub in waiting:
            roles.resolve_grants(person)

