"""Who may open a page: every view states the role it needs, and any placement, course or
person in its URL is checked against the context of the launch that opened the session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from flask import abort, g, session

from lti_tool.extensions import db
from lti_tool.lti.exceptions import AccessDenied, ToolError
from lti_tool.people import service as people
from lti_tool.people.models import Course, CourseRole, Person, Placement
from lti_tool.people.roles import at_least

F = TypeVar("F", bound=Callable[..., Any])

SESSION_KEY = "launch"


@dataclass(frozen=True)
class CurrentLaunch:
    """The launch that opened this browser session."""

    platform_id: int
    deployment_id: str
    person_id: int
    course_id: int | None
    placement_id: int | None
    role: str | None
    message_type: str
    for_user: str | None
    return_url: str | None
    deep_linking: dict[str, Any] | None

    @property
    def person(self) -> Person:
        person = db.session.get(Person, self.person_id)
        assert person is not None
        return person


def current_launch() -> CurrentLaunch | None:
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    return CurrentLaunch(**data)


def start_session(data: dict[str, Any]) -> None:
    """Replace whatever session this browser had with one for this launch (a new id)."""
    regenerate = getattr(session, "regenerate", None)
    if regenerate is not None:
        regenerate()
    else:
        session.clear()
    session[SESSION_KEY] = data


class SessionEnded(ToolError):
    status = 401
    title = "Please open the tool from Moodle"


def launch_or_end() -> CurrentLaunch:
    """The session's launch, or a 401 page asking the person to open the tool from Moodle."""
    launch = current_launch()
    if launch is None:
        raise SessionEnded("no_session", "Your session with the tool has ended or was never "
                           "started. Open the activity again in Moodle.")
    return launch


def confirmed_role(launch: CurrentLaunch, row: CourseRole | None) -> str | None:
    """The launch's role as far as Moodle still confirms it: None once the stored course
    role has ended (a roster refresh dropped the person) or gone unconfirmed too long, and
    never more than the role stored since (a later launch as a learner lowers it)."""
    if launch.role is None or launch.course_id is None:
        return launch.role
    if not people.is_current(row):
        return None
    assert row is not None
    return launch.role if at_least(row.role, launch.role) else row.role


def course_role_of(launch: CurrentLaunch) -> CourseRole | None:
    if launch.course_id is None:
        return None
    return db.session.get(CourseRole, (launch.person_id, launch.course_id))


def require(role: str) -> Callable[[F], F]:
    """The view needs a launch with at least ``role``, still confirmed by Moodle (see
    :func:`confirmed_role`); a ``placement_id`` or ``course_id`` argument must belong to the
    launch's course, and the objects are put in ``g``. Anything else the URL names must be
    fetched with :func:`of_this_course` (or :func:`part_of` one that is)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            launch = launch_or_end()
            if not at_least(launch.role, role):
                raise AccessDenied("role_insufficient", "This page is for course staff only."
                                   if role != "learner" else "Your role in this course does "
                                   "not give access to this page.")
            g.launch = launch
            if "placement_id" in kwargs:
                placement, row = _with_role(Placement, Placement.course_id,
                                            kwargs["placement_id"], launch)
                if placement is None or placement.course_id != launch.course_id:
                    raise AccessDenied("context_mismatch", _OTHER_CONTEXT)
                g.placement = placement
            elif "course_id" in kwargs:
                course, row = _with_role(Course, Course.id, kwargs["course_id"], launch)
                if course is None or course.id != launch.course_id:
                    raise AccessDenied("context_mismatch", _OTHER_CONTEXT)
                g.course = course
            else:
                row = course_role_of(launch)
            if not at_least(confirmed_role(launch, row), role):
                raise AccessDenied("role_not_current", ROLE_NOT_CURRENT)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


M = TypeVar("M", Placement, Course)


def _with_role(model: type[M], course_column: Any, object_id: int,
               launch: CurrentLaunch) -> tuple[M | None, CourseRole | None]:
    """The placement or course, and the person's stored role in its course, in one query."""
    found = db.session.execute(
        sa.select(model, CourseRole).outerjoin(CourseRole, sa.and_(
            CourseRole.course_id == course_column, CourseRole.person_id == launch.person_id))
        .where(model.id == object_id)).first()
    if found is None:
        return None, None
    return found[0], found[1]


T = TypeVar("T")


def of_this_course(obj: T | None) -> T:
    """``obj`` (anything with a ``course_id``: an incident, a request) if it belongs to the
    course of the placement or course in the URL; otherwise a 404, so that a URL naming
    another course's object reveals nothing and writes nothing."""
    course_id = g.placement.course_id if "placement" in g else g.course.id
    if obj is None or getattr(obj, "course_id", None) != course_id:
        abort(404)
    return obj


def part_of(parent: Any, obj: T | None, link: str = "incident_id") -> T:
    """``obj`` if its ``link`` column names ``parent`` (itself fetched with
    :func:`of_this_course`): evidence or a check of this incident; otherwise a 404."""
    if obj is None or getattr(obj, link, None) != parent.id:
        abort(404)
    return obj


_OTHER_CONTEXT = ("This page belongs to another course or activity than the one you opened "
                  "the tool from. Open it from that activity in Moodle.")
ROLE_NOT_CURRENT = ("Moodle no longer confirms your role in this course (you may have been "
                    "removed from it, or last opened it from Moodle too long ago). Open the "
                    "activity again in Moodle.")
