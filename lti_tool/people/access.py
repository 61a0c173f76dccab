"""Who may open a page: every view states the role it needs, and any placement, course or
person in its URL is checked against the context of the launch the page was opened from.

One browser can hold several launches at once (two Moodle tabs: two activities, or two
learners' Grade analysis). Each launch gets an id that the tool's own URLs carry as the
``launch`` query parameter (added by ``url_for`` for every tool page), so each tab keeps its
own context and only the rights its own launch gave.

The launch id travels as the first segment of the tool's paths (``/l/<launch id>/learner/...``):
a small WSGI middleware moves it into ``SCRIPT_NAME``, so routes stay as they are and every
URL ``url_for`` builds on that page (links, form actions, redirects) keeps it by itself.
A path without it (a link typed or emailed) means the browser's most recent launch."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from flask import Flask, abort, g, request, session
from flask_babel import gettext, lazy_gettext

from lti_tool.extensions import db
from lti_tool.lti.exceptions import AccessDenied, ToolError
from lti_tool.people import service as people
from lti_tool.people.models import Course, CourseRole, Person, Placement
from lti_tool.people.roles import at_least

F = TypeVar("F", bound=Callable[..., Any])

SESSION_KEY = "launches"
LATEST_KEY = "latest_launch"
LAUNCH_PREFIX = "/l/"
_ENVIRON_KEY = "aiu.launch_id"
# Launches one browser keeps at once (the oldest go first): plenty of Moodle tabs.
MAX_LAUNCHES = 12


@dataclass(frozen=True)
class CurrentLaunch:
    """The launch a page was opened from."""

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
    locale: str = "en"  # the platform's locale tag for the launch (lti_tool.i18n picks it)

    @property
    def person(self) -> Person:
        person = db.session.get(Person, self.person_id)
        assert person is not None
        return person


def current_launch() -> CurrentLaunch | None:
    """The launch named in the request's path; without one, or with an id this browser does
    not hold (a link copied from elsewhere), the browser's most recent launch: never more than
    this browser's own launches give. None when the session holds no launch."""
    launches = session.get(SESSION_KEY)
    if not isinstance(launches, dict):
        return None
    data = launches.get(request.environ.get(_ENVIRON_KEY)) or launches.get(
        session.get(LATEST_KEY))
    if not isinstance(data, dict):
        return None
    return CurrentLaunch(**data)


def start_session(data: dict[str, Any]) -> str:
    """Add this launch to the browser's session under a new launch id (returned). The session
    id is replaced at every launch; launches of another person or platform are dropped, so
    one browser never mixes people."""
    launches = session.get(SESSION_KEY)
    kept: dict[str, Any] = {}
    if isinstance(launches, dict):
        kept = {key: value for key, value in launches.items()
                if isinstance(value, dict) and value.get("person_id") == data["person_id"]
                and value.get("platform_id") == data["platform_id"]}
    regenerate = getattr(session, "regenerate", None)
    if regenerate is not None:
        regenerate()
    else:
        session.clear()
    launch_id = secrets.token_urlsafe(12)
    kept[launch_id] = data
    while len(kept) > MAX_LAUNCHES:
        kept.pop(next(iter(kept)))
    session[SESSION_KEY] = kept
    session[LATEST_KEY] = launch_id
    return launch_id


def under_launch(launch_id: str, path: str) -> str:
    """``path`` (from ``url_for`` in a request without a launch id) for the given launch."""
    root = request.script_root
    return root + LAUNCH_PREFIX + launch_id + path[len(root):]


class LaunchPathMiddleware:
    """Moves ``/l/<launch id>`` from the front of the path into ``SCRIPT_NAME``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(LAUNCH_PREFIX):
            launch_id, slash, rest = path[len(LAUNCH_PREFIX):].partition("/")
            if launch_id and slash and len(launch_id) <= 64:
                environ[_ENVIRON_KEY] = launch_id
                environ["SCRIPT_NAME"] = (environ.get("SCRIPT_NAME", "").rstrip("/")
                                          + LAUNCH_PREFIX + launch_id)
                environ["PATH_INFO"] = "/" + rest
        return self.app(environ, start_response)


def init_app(app: Flask) -> None:
    app.wsgi_app = LaunchPathMiddleware(app.wsgi_app)  # type: ignore[method-assign]


class SessionEnded(ToolError):
    status = 401
    title = lazy_gettext("Please open the tool from Moodle")


def launch_or_end() -> CurrentLaunch:
    """The session's launch, or a 401 page asking the person to open the tool from Moodle."""
    launch = current_launch()
    if launch is None:
        raise SessionEnded("no_session", gettext("Your session with the tool has ended or was "
                                                 "never started. Open the activity again in "
                                                 "Moodle."))
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
                raise AccessDenied("role_insufficient", gettext(
                    "This page is for course staff only.") if role != "learner" else gettext(
                    "Your role in this course does not give access to this page."))
            g.launch = launch
            if "placement_id" in kwargs:
                placement, row = _with_role(Placement, kwargs["placement_id"], launch)
                if placement is None or placement.course_id != launch.course_id:
                    raise AccessDenied("context_mismatch", _OTHER_CONTEXT)
                g.placement = placement
            elif "course_id" in kwargs:
                course, row = _with_role(Course, kwargs["course_id"], launch)
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


def _with_role_statement(model: type[Placement] | type[Course], course_column: Any) -> Any:
    return (sa.select(model, CourseRole).outerjoin(CourseRole, sa.and_(
        CourseRole.course_id == course_column,
        CourseRole.person_id == sa.bindparam("person_id")))
        .where(model.id == sa.bindparam("object_id")))


# Built once: every staff and learner page runs one of these, and building the statement
# cost more CPU than executing it from SQLAlchemy's compiled cache.
_WITH_ROLE = {Placement: _with_role_statement(Placement, Placement.course_id),
              Course: _with_role_statement(Course, Course.id)}


def _with_role(model: type[M], object_id: int,
               launch: CurrentLaunch) -> tuple[M | None, CourseRole | None]:
    """The placement or course, and the person's stored role in its course, in one query."""
    found = db.session.execute(_WITH_ROLE[model], {
        "person_id": launch.person_id, "object_id": object_id}).first()
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


_OTHER_CONTEXT = lazy_gettext(
    "This page belongs to another course or activity than the one you opened the tool from. "
    "Open it from that activity in Moodle.")
ROLE_NOT_CURRENT = lazy_gettext(
    "Moodle no longer confirms your role in this course (you may have been removed from it, "
    "or last opened it from Moodle too long ago). Open the activity again in Moodle.")
