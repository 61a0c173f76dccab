"""The staff view of a placement: every learner of the course with their declarations,
their AI-tool authorisations and the authentication of their latest declaration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lti_tool.declarations.models import Authentication, Declaration
from lti_tool.declarations.service import LearnerStatus, status
from lti_tool.extensions import db
from lti_tool.people.models import Course, CourseMember, Person, Placement
from lti_tool.policy.service import Policy


@dataclass(frozen=True)
class OverviewRow:
    sub: str
    name: str
    email: str
    person_id: int | None
    status: LearnerStatus
    history: list[Declaration]
    authorisations: list[Any] = field(default_factory=list)
    authentication: Authentication | None = None  # of the latest declaration


def placement_overview(course: Course, placement: Placement, policy: Policy, *,
                       with_authorisations: bool = True) -> list[OverviewRow]:
    """One row per learner of the course (from the cached roster, plus anyone who declared),
    with their declarations and (unless not wanted: the dashboard reads them for one page)
    AI-tool authorisations; four queries whatever the size of the course."""
    from lti_tool.requests.service import active_authorisations_by_person

    members = list(db.session.scalars(
        sa.select(CourseMember).where(CourseMember.course_id == course.id,
                                      CourseMember.is_learner.is_(True))))
    people = {p.sub: p for p in db.session.scalars(
        sa.select(Person).where(Person.platform_id == course.platform_id,
                                Person.sub.in_(sa.select(CourseMember.sub).where(
                                    CourseMember.course_id == course.id,
                                    CourseMember.is_learner.is_(True))) | Person.id.in_(
                                    sa.select(Declaration.person_id).where(
                                        Declaration.placement_id == placement.id))))}
    by_person: dict[int, list[Declaration]] = {}
    authenticated: dict[int, Authentication] = {}
    for declaration, authentication in db.session.execute(
            sa.select(Declaration, Authentication)
            .outerjoin(Authentication, Authentication.declaration_id == Declaration.id)
            .where(Declaration.placement_id == placement.id)
            .order_by(Declaration.id.desc())):
        by_person.setdefault(declaration.person_id, []).append(declaration)
        if authentication is not None:
            authenticated[declaration.id] = authentication
    rows: dict[str, OverviewRow] = {}
    for member in members:
        person = people.get(member.sub)
        declarations = by_person.get(person.id, []) if person else []
        rows[member.sub] = OverviewRow(member.sub, member.name or (person.display_name if person
                                       else f"User {member.sub}"), member.email,
                                       person.id if person else None,
                                       status(declarations[0] if declarations else None, policy),
                                       declarations)
    for person in people.values():
        if person.sub not in rows and person.id in by_person:
            declarations = by_person[person.id]
            rows[person.sub] = OverviewRow(person.sub, person.display_name, person.email,
                                           person.id, status(declarations[0], policy),
                                           declarations)
    authorisations = active_authorisations_by_person(
        [p.id for p in people.values()], placement_id=placement.id) \
        if people and with_authorisations else {}
    result = [OverviewRow(r.sub, r.name, r.email, r.person_id, r.status, r.history,
                          authorisations.get(r.person_id, []) if r.person_id else [],
                          authenticated.get(r.history[0].id) if r.history else None)
              for r in rows.values()]
    return sorted(result, key=lambda r: (r.status.declared, r.name.casefold()))
