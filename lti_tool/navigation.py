"""The tool's navigation links, shown on every page after a launch: the activity, the
learner's requests and cases, the course's requests for staff, the ALS review queue, the
appeals queue and the cases to report to the awarding body for those who hold the role (any
role, any course) and tool administration for tool administrators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_request_context, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from lti_tool.extensions import db
from lti_tool.people.access import current_launch
from lti_tool.people.models import Person
from lti_tool.people.roles import ADMIN, LEARNER, STAFF, at_least
from lti_tool.roles.models import ALS, APPEAL_REVIEWER, QUALITY_LEAD


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    # Items waiting behind the link (the ALS review queue's requests), shown beside it.
    count: int | None = None
    count_label: str = ""

    @property
    def current(self) -> bool:
        return has_request_context() and request.path == self.url.split("?", 1)[0]


def tool_nav() -> list[NavItem]:
    """The links for the session's launch (none without one)."""
    from lti_tool.roles import service as roles
    from lti_tool.roles.models import POLICY_OWNER

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
    if launch.role == LEARNER:
        items.append(NavItem("My AI-use cases", url_for("learner.cases")))
    if at_least(launch.role, STAFF) and launch.course_id is not None:
        items.append(NavItem("AI tool requests in this course",
                             url_for("course_requests.course", course_id=launch.course_id)))
    person = db.session.get(Person, launch.person_id)
    held = roles.held_roles(person) if person is not None else set()  # one query for all
    if ALS in held:
        from lti_tool.requests.service import waiting_count

        items.append(NavItem("Review queue", url_for("als.queue"),
                             waiting_count(launch.platform_id), "waiting for the ALS team"))
    if APPEAL_REVIEWER in held:
        items.append(NavItem("Appeals", url_for("appeals.queue")))
    if held & {ALS, QUALITY_LEAD}:
        items.append(NavItem("Cases to report", url_for("reporting.queue")))
    admin = launch.role == ADMIN or (person is not None and roles.is_tool_admin(person, held))
    if admin:
        items.append(NavItem("Tool administration", url_for("admin.index")))
    if admin or POLICY_OWNER in held:
        items.append(NavItem("Policies", url_for("policy_editor.index")))
    return items


def _context() -> dict[str, Any]:
    try:
        return {"tool_nav": tool_nav()}
    except SQLAlchemyError:  # an error page for a broken database still renders
        current_app.logger.warning("tool_nav_unavailable")
        return {"tool_nav": []}


def init_app(app: Flask) -> None:
    app.context_processor(_context)
