"""Page guards for the tool-held roles: checked on the platform of the session's launch,
whatever the course or role the person launched with."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g

from lti_tool.lti.exceptions import AccessDenied
from lti_tool.people.access import confirmed_role, course_role_of, launch_or_end
from lti_tool.people.roles import ADMIN
from lti_tool.roles import service as roles
from lti_tool.roles.models import ALS, APPEAL_REVIEWER, POLICY_OWNER, QUALITY_LEAD, TOOL_ADMIN

F = TypeVar("F", bound=Callable[..., Any])

REPORTERS = "reporters"  # the ALS team, quality leads and tool administrators
_REFUSALS = {
    ALS: ("not_als", "This page is for the ALS team. If you are in the team, ask a tool "
          "administrator to add you."),
    TOOL_ADMIN: ("not_tool_admin", "This page is for the tool's administrators."),
    APPEAL_REVIEWER: ("not_appeal_reviewer", "This page is for appeal reviewers. If you "
                      "review appeals, ask a tool administrator to add you."),
    POLICY_OWNER: ("not_policy_owner", "This page is for the tool's administrators and "
                   "policy owners. Ask a tool administrator to make you a policy owner."),
    REPORTERS: ("not_reporter", "This page is for the people who report cases to the "
                "awarding body (the ALS team and the quality lead). Ask a tool administrator "
                "if you should be one of them."),
}


def require_tool_role(role: str) -> Callable[[F], F]:
    """The view needs a launch whose person holds ``role`` (ALS, appeal reviewer, tool
    admin, policy owner, which tool admins hold too, or :data:`REPORTERS`: ALS, quality lead
    or tool admin) on the launch's platform; puts the launch in ``g.launch`` and the person
    in ``g.person``."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            launch = launch_or_end()
            person = launch.person
            if role == ALS:
                allowed = roles.is_als(person)
            elif role == APPEAL_REVIEWER:
                allowed = roles.is_appeal_reviewer(person)
            elif role == REPORTERS:
                held = roles.held_roles(person)
                allowed = bool(held & {ALS, QUALITY_LEAD}) or roles.is_tool_admin(person, held)
            else:
                allowed = (confirmed_role(launch, course_role_of(launch)) == ADMIN
                           or roles.is_tool_admin(person)
                           or (role == POLICY_OWNER and roles.holds(person, POLICY_OWNER)))
            if not allowed:
                reason, message = _REFUSALS[role]
                raise AccessDenied(reason, message)
            g.launch = launch
            g.person = person
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


require_als = require_tool_role(ALS)
require_tool_admin = require_tool_role(TOOL_ADMIN)
require_appeal_reviewer = require_tool_role(APPEAL_REVIEWER)
require_policy_owner = require_tool_role(POLICY_OWNER)
require_reporter = require_tool_role(REPORTERS)
