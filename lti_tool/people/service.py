"""Recording who launched from where: people, courses, placements and their roles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from lti_tool.audit import service as audit
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.lti.launch import Launch
from lti_tool.lti.sesskey import seal_deep_linking, strip_sesskey
from lti_tool.people.models import Course, CourseMember, CourseRole, Person, Placement
from lti_tool.people.roles import ADMIN, role_from_claims
from lti_tool.platforms.models import Deployment, Platform
from lti_tool.roles import service as roles

M = TypeVar("M")


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


def record_launch(launch: Launch) -> dict[str, Any]:
    """Upsert the person, course, placement and role a launch names.

    Returns the data the server-side session keeps for this launch.
    """
    role = role_from_claims(launch.roles)
    person, created = _get_or_create(
        Person, {"platform_id": launch.platform_id, "sub": launch.sub},
        lambda: Person(platform_id=launch.platform_id, sub=launch.sub),
    )
    previous_email = person.email
    person.name = launch.name or person.name
    person.given_name = launch.given_name or person.given_name
    person.family_name = launch.family_name or person.family_name
    person.email = launch.email or person.email
    person.username = launch.username or person.username
    person.sourcedid = launch.sourcedid or person.sourcedid
    person.is_platform_admin = role == ADMIN
    person.last_launch_at = utcnow()
    db.session.flush()
    if created:
        audit.record(f"platform:{launch.platform_id}", "person.created", "person", person.id,
                     {"sub": launch.sub})
    # Roles granted by Moodle user id or email before the tool knew this person (or this
    # email) take hold now; grants to a known person are tied to them when made, so a
    # steady-state launch skips the lookup.
    if created or person.email != previous_email:
        roles.resolve_grants(person)

    platform = db.session.get(Platform, launch.platform_id)
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
        # Moodle's sesskey never goes into the session in clear.
        "return_url": strip_sesskey(launch.return_url),
        "deep_linking": (seal_deep_linking(launch.deep_linking,
                                           current_app.config["SECRET_KEY"])
                         if launch.deep_linking else None),
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
    deployment = db.session.scalar(sa.select(Deployment).where(
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


def _set_course_role(person_id: int, course_id: int, role: str) -> None:
    row, created = _get_or_create(
        CourseRole, {"person_id": person_id, "course_id": course_id},
        lambda: CourseRole(person_id=person_id, course_id=course_id, role=role),
    )
    if not created and row.role != role:
        row.role = role
        row.updated_at = utcnow()


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
    return sorted(existing.values(), key=lambda m: (m.name.lower(), m.sub))

