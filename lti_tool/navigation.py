"""The tool's navigation links, shown on every page after a launch: the activity, the
learner's requests, the course's requests for staff, the ALS review queue for ALS members
(any role, any course), the cases to report to the awarding body for the ALS team and the
quality lead, and tool administration for tool administrators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_request_context, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from lti_tool.extensions import db
from lti_tool.people.access import current_launch
from lti_tool.people.models import Person
from lti_tool.people.roles import ADMIN, LEARNER, STAFF, at_least
from lti_tool.roles.models import ALS, QUALITY_LEAD


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str

    @property
    def current(self) -> bool:
        return has_request_context() and request.path == self.url.split("?", 1)[0]


def tool_nav() -> list[NavItem]:
    """The links for the session's launch (none without one)."""
    from lti_tool.roles import service as roles

    if not has_request_context():
        return []
    launch = current_launch()
    if launch is None:
        return []
    items: list[NavItem] = []
    if launch.placement_id is not None and launch.message_type != "LtiDeepLinkingRequest":
        endpoint = "staff.placement" if at_least(launch.role, STAFF) else "learner.placement"
        items.append(NavItem("This activity", url_for(endpoint,
                                                      placement_id=launch.placement_id)))
    if launch.role == LEARNER and launch.placement_id is not None:
        items.append(NavItem("My AI tool requests", url_for("requests.index")))
    if at_least(launch.role, STAFF) and launch.course_id is not None:
        items.append(NavItem("AI tool requests in this course",
                             url_for("course_requests.course", course_id=launch.course_id)))
    person = db.session.get(Person, launch.person_id)
    held = roles.held(person) if person is not None else set()
    if ALS in held:
        items.append(NavItem("Review queue", url_for("als.queue")))
    if held & {ALS, QUALITY_LEAD}:
        items.append(NavItem("Cases to report", url_for("reporting.queue")))
    if launch.role == ADMIN or (person is not None and roles.is_tool_admin(person, held)):
        items.append(NavItem("Tool administration", url_for("admin.index")))
    return items


def _context() -> dict[str, Any]:
    try:
        return {"tool_nav": tool_nav()}
    except SQLAlchemyError:  # an error page for a broken database still renders
        current_app.logger.warning("tool_nav_unavailable")
        return {"tool_nav": []}


def init_app(app: Flask) -> None:
    app.context_processor(_context)
