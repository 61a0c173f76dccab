"""The id_token claim sets the stand-in sends, shaped like Moodle 4.5's (see the captures).

``LaunchMessageBuilder.build`` turns a pending launch into the claims of an
``LtiResourceLinkRequest``, ``LtiDeepLinkingRequest`` or ``LtiSubmissionReviewRequest`` in the
same key order Moodle uses. Custom parameters follow ``lti_split_custom_parameters``: keys are
also sent lower-cased with non-alphanumerics as "_" (both forms when they differ), values
beginning with ``$`` are substituted when Moodle knows the variable (a known variable without a
value becomes null, an unknown one stays as written).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from lti_tool.demo.model import Activity, Course, PendingLaunch, ToolRegistration, User

if TYPE_CHECKING:
    from lti_tool.demo.platform import MoodleStandIn

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
ROLE_LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
ROLE_INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
ADMIN_ROLES = [
    "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator",
    ROLE_INSTRUCTOR,
    "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator",
]
RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"
SUBMISSION_REVIEW = "LtiSubmissionReviewRequest"
MESSAGE_TYPES = (RESOURCE_LINK, DEEP_LINKING, SUBMISSION_REVIEW)


def map_custom_key(key: str) -> str:
    """Moodle's ``lti_map_keyname``: lower-case, anything but [a-z0-9] becomes "_"."""
    return "".join(ch if ("a" <= ch <= "z" or "0" <= ch <= "9") else "_"
                   for ch in key.strip().lower())


def php_json(value: Any) -> str:
    """``json_encode`` as PHP prints it (no spaces, slashes escaped)."""
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/")


class LaunchMessageBuilder:
    """Builds launch claim sets from the stand-in's state (call with the stand-in's lock held)."""

    def __init__(self, standin: MoodleStandIn) -> None:
        self.standin = standin

    # -- pieces -------------------------------------------------------------------------------
    def roles(self, user: User, course_id: int) -> list[str]:
        """Launch roles (``lti_get_ims_role`` with a course module): teachers, editing or not,
        are Instructors; site admins get the three admin roles."""
        if user.site_admin:
            return list(ADMIN_ROLES)
        role = self.standin.enrolment_role(course_id, user.id)
        if role in ("editingteacher", "teacher") or user.category_manager:
            return [ROLE_INSTRUCTOR]
        return [ROLE_LEARNER]

    def variables(self, user: User, course: Course, activity: Activity | None,
                  roles: list[str]) -> dict[str, Any]:
        """Values of the substitution variables Moodle resolves (None: known but unset)."""
        return {
            "Context.id": str(course.id),
            "Context.title": course.fullname,
            "Context.label": course.shortname,
            "Context.sourcedId": course.idnumber or None,
            "CourseSection.title": course.fullname,
            "CourseSection.label": course.shortname,
            "CourseSection.sourcedId": course.idnumber or None,
            "ResourceLink.id": str(activity.id) if activity else None,
            "ResourceLink.title": activity.title if activity else None,
            "ResourceLink.description": activity.description if activity else None,
            "User.id": str(user.id),
            "User.username": user.username,
            "Person.name.full": user.fullname,
            "Person.name.given": user.firstname,
            "Person.name.family": user.lastname,
            "Person.email.primary": user.email,
            "Person.sourcedId": user.idnumber,
            "Membership.role": ",".join(roles),
        }

    @staticmethod
    def _substitute(value: str, variables: dict[str, Any]) -> Any:
        value = value.strip()
        if value.startswith("$") and value[1:] in variables:
            return variables[value[1:]]
        return value

    def add_custom(self, target: dict[str, Any], params: dict[str, str],
                   variables: dict[str, Any]) -> None:
        for key, raw in params.items():
            resolved = self._substitute(str(raw), variables)
            mapped = map_custom_key(key)
            target[mapped] = resolved
            if key.strip() != mapped:
                target[key.strip()] = resolved

    def basic_outcome(self, activity: Activity, user: User, tool: ToolRegistration
                      ) -> dict[str, str]:
        data = {"instanceid": str(activity.id), "userid": str(user.id),
                "typeid": str(tool.type_id), "launchid": 1 + secrets.randbelow(2**31 - 1)}
        digest = hashlib.sha256((php_json(data) + tool.servicesalt).encode()).hexdigest()
        return {
            "lis_result_sourcedid": php_json({"data": data, "hash": digest}),
            "lis_outcome_service_url": self.standin.url("/mod/lti/service.php"),
        }

    # -- the whole message --------------------------------------------------------------------
    def build(self, pending: PendingLaunch, nonce: str) -> dict[str, Any]:
        """The claims for ``pending`` (``iat`` now, ``exp`` after the stand-in's lifetime)."""
        s = self.standin
        user = s.users[pending.user_id]
        course = s.courses[pending.course_id]
        tool = s.tools[pending.type_id]
        activity = s.activities.get(pending.activity_id) if pending.activity_id else None
        message_type = pending.message_type
        roles = self.roles(user, course.id)
        variables = self.variables(user, course, activity, roles)
        now = int(time.time())

        claims: dict[str, Any] = {
            "nonce": nonce,
            "iat": now,
            "exp": now + s.token_lifetime,
            "iss": s.issuer,
            "aud": tool.client_id,
            LTI + "deployment_id": tool.deployment_id,
            LTI + "target_link_uri": pending.target_link_uri,
            "sub": str(user.id),
            LTI + "lis": {"person_sourcedid": user.idnumber,
                          "course_section_sourcedid": course.idnumber},
            LTI + "roles": roles,
            LTI + "context": {"id": str(course.id), "label": course.shortname,
                              "title": course.fullname, "type": ["CourseSection"]},
        }
        if message_type == SUBMISSION_REVIEW and pending.for_user_id is not None:
            claims[LTI + "for_user"] = {"user_id": str(pending.for_user_id)}
        claims[LTI + "message_type"] = message_type
        if activity is not None:
            claims[LTI + "resource_link"] = {"title": activity.title,
                                             "description": activity.description,
                                             "id": str(activity.id)}
            if tool.gradesync > 0 and s.activity_items(activity.id):
                claims["https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome"] = (
                    self.basic_outcome(activity, user, tool))
        if tool.send_name:
            claims["given_name"] = user.firstname
            claims["family_name"] = user.lastname
            claims["name"] = user.fullname
        claims[LTI + "ext"] = {"user_username": user.username, "lms": "moodle-2"}
        if tool.send_email:
            claims["email"] = user.email
        presentation: dict[str, str] = {"locale": user.lang}
        if activity is not None:
            presentation["document_target"] = "iframe"
            presentation["return_url"] = s.url(
                f"/mod/lti/return.php?course={course.id}&launch_container=3"
                f"&instanceid={activity.id}&sesskey={s.sesskey(user.id)}")
        claims[LTI + "launch_presentation"] = presentation
        claims[LTI + "tool_platform"] = dict(s.tool_platform)
        claims[LTI + "version"] = "1.3.0"

        custom: dict[str, Any] = {}
        if activity is not None:
            self.add_custom(custom, activity.custom, variables)
        self.add_custom(custom, tool.custom_parameters, variables)
        review = s.review_item(activity.id) if activity is not None else None
        if message_type == SUBMISSION_REVIEW and review and review.submission_review:
            self.add_custom(custom, review.submission_review.get("custom") or {}, variables)
        nrps = tool.memberships and s.tool_used_in_course(tool.type_id, course.id)
        if nrps:
            custom["context_memberships_url"] = s.memberships_url(course.id, tool.type_id)
        if custom:
            claims[LTI + "custom"] = custom

        if tool.gradesync > 0:
            endpoint: dict[str, Any] = {
                "scope": tool.ags_scopes(),
                "lineitems": s.url(f"/mod/lti/services.php/{course.id}/lineitems"
                                   f"?type_id={tool.type_id}"),
            }
            if activity is not None:
                bound = s.bound_line_items(activity.id)
                if len(bound) == 1:
                    endpoint["lineitem"] = s.lineitem_url(bound[0])
            claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"] = endpoint
        if nrps:
            claims["https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"] = {
                "context_memberships_url": s.memberships_url(course.id, tool.type_id),
                "service_versions": ["1.0", "2.0"],
            }
        if message_type == DEEP_LINKING:
            claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = {
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["frame", "iframe", "window"],
                "accept_copy_advice": False,
                "accept_multiple": True,
                "accept_unsigned": False,
                "auto_create": False,
                "can_confirm": False,
                "deep_link_return_url": s.url(
                    f"/mod/lti/contentitem_return.php?course={course.id}&id={tool.type_id}"
                    f"&sesskey={s.sesskey(user.id)}"),
                "title": tool.name,
                "text": "",
            }
        return claims
