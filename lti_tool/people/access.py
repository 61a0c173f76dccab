"""Who may open a page: every view states the role it needs, and any placement, course or
person in its URL is checked against the context of the launch that opened the session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, session

from lti_tool.extensions import db
from lti_tool.lti.exceptions import AccessDenied, ToolError
from lti_tool.people.models import Course, Person, Placement
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


def require(role: str) -> Callable[[F], F]:
    """The view needs a launch with at least ``role``; a ``placement_id`` or ``course_id``
    argument must belong to the launch's course, and the objects are put in ``g``."""

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
                placement = db.session.get(Placement, kwargs["placement_id"])
                if placement is None or placement.course_id != launch.course_id:
                    raise AccessDenied("context_mismatch", _OTHER_CONTEXT)
                g.placement = placement
            if "course_id" in kwargs:
                course = db.session.get(Course, kwargs["course_id"])
                if course is None or course.id != launch.course_id:
                    raise AccessDenied("context_mismatch", _OTHER_CONTEXT)
                g.course = course
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


_OTHER_CONTEXT = ("This page belongs to another course or activity than the one you opened "
                  "the tool from. Open it from that activity in Moodle.")
