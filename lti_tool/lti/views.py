"""The platform-facing LTI endpoints: login, launch, JWKS and Dynamic Registration."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.declarations import service as declarations
from lti_tool.extensions import csrf
from lti_tool.lti import launch as lti_launch
from lti_tool.lti.exceptions import AccessDenied, RegistrationError
from lti_tool.lti.keystore import key_store
from lti_tool.lti.login import begin_login
from lti_tool.lti.registration import (
    client_registration,
    fetch_platform_configuration,
    post_registration,
)
from lti_tool.lti.state import LaunchStateStore
from lti_tool.people import service as people
from lti_tool.people.access import start_session, under_launch
from lti_tool.people.roles import LEARNER, STAFF, at_least, role_from_claims
from lti_tool.platforms import service as platforms
from lti_tool.rate_limits import client_address

bp = Blueprint("lti", __name__)


def state_store() -> LaunchStateStore:
    return current_app.extensions["aiu_state_store"]  # type: ignore[no-any-return]


def set_tool_cookie(response: BaseResponse, name: str, value: str, max_age: int) -> None:
    """Set a cookie with the same attributes as the session cookie (they make it work
    inside Moodle's iframe on https and on localhost)."""
    cfg = current_app.config
    response.set_cookie(name, value, max_age=max_age, httponly=True,
                        secure=cfg["SESSION_COOKIE_SECURE"],
                        samesite=cfg["SESSION_COOKIE_SAMESITE"],
                        partitioned=cfg["SESSION_COOKIE_PARTITIONED"])


@bp.route("/lti/login", methods=["GET", "POST"])
@csrf.exempt
def login() -> BaseResponse:
    params = request.values.to_dict()
    cfg = current_app.config
    cookie_name = cfg["LOGIN_COOKIE_NAME"]
    result = begin_login(params, store=state_store(), base_url=cfg["BASE_URL"],
                         browser_secret=request.cookies.get(cookie_name),
                         state_ttl=cfg["LOGIN_STATE_TTL"], client=client_address(),
                         states_per_client=int(cfg["LOGIN_STATES_PER_CLIENT"]))
    response = redirect(result.url, code=302)
    set_tool_cookie(response, cookie_name, result.browser_secret, cfg["LOGIN_STATE_TTL"])
    return response


@bp.route("/lti/launch", methods=["POST"])
@csrf.exempt
def launch() -> BaseResponse:
    cfg = current_app.config
    validated = lti_launch.validate_launch(
        request.form.to_dict(), secure=request.is_secure, store=state_store(),
        browser_secret=request.cookies.get(cfg["LOGIN_COOKIE_NAME"]),
        base_url=cfg["BASE_URL"], leeway=cfg["LAUNCH_LEEWAY"],
        nonce_ttl=60 + 2 * cfg["LAUNCH_LEEWAY"] + 3600,
    )
    _check_message_access(validated)
    data = people.record_launch(validated)
    next_path = data.pop(people.NEXT_PATH)
    declarations.bind_from_launch(data["placement_id"], validated.platform_id,
                                  dict(validated.custom), f"person:{data['person_id']}")
    launch_id = start_session(data)
    current_app.logger.info("launch_ok platform=%s message=%s role=%s", validated.platform_id,
                            validated.message_type, data["role"])
    if next_path and data["message_type"] == lti_launch.RESOURCE_LINK:
        # An emailed link asked for this page: its own access checks apply to this launch.
        return redirect(under_launch(launch_id, request.script_root + next_path), code=303)
    return redirect(under_launch(launch_id, _landing(data)), code=303)


def _check_message_access(launch: lti_launch.Launch) -> None:
    """Refuse, before anything is written, launches the role does not allow."""
    role = role_from_claims(launch.roles)
    if role is None:
        raise AccessDenied("role_unknown", gettext(
            "The tool does not know your role in this course, so it cannot open. Ask your "
            "teacher."))
    if launch.message_type == lti_launch.DEEP_LINKING and not at_least(role, STAFF):
        raise AccessDenied("deep_linking_forbidden",
                           gettext("Only teachers can add this tool to a course."))
    if launch.message_type == lti_launch.SUBMISSION_REVIEW and not at_least(role, STAFF):
        # Moodle lets anyone who can view the activity obtain a review launch.
        if launch.for_user not in (None, launch.sub):
            raise AccessDenied("review_forbidden", gettext("You can only review your own work."))
    if launch.message_type == lti_launch.RESOURCE_LINK and not launch.resource_link.get("id"):
        raise AccessDenied("no_placement", gettext("The launch did not come from an activity."))


def _landing(data: dict[str, Any]) -> str:
    role = data["role"]
    placement_id = data["placement_id"]
    if data["message_type"] == lti_launch.DEEP_LINKING:
        return url_for("staff.deep_link")
    if at_least(role, STAFF):
        if data["message_type"] == lti_launch.SUBMISSION_REVIEW and data["for_user"]:
            return url_for("staff.review", placement_id=placement_id, sub=data["for_user"])
        return url_for("staff.placement", placement_id=placement_id)
    if role == LEARNER and placement_id is not None:
        return url_for("learner.placement", placement_id=placement_id)
    raise AccessDenied("no_landing", gettext("There is no page for this launch."))


@bp.get("/lti/jwks")
@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    response = jsonify(key_store().jwks())
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


@bp.get("/lti/register/<token>")
def register(token: str) -> str:
    cfg = current_app.config
    invite = platforms.usable_invite(token)
    config_url = request.args.get("openid_configuration", "")
    registration_token = request.args.get("registration_token", "")
    if not config_url or not registration_token:
        raise RegistrationError("registration_incomplete", gettext(
            "Open this URL from Moodle: paste it into Site administration > Plugins > "
            "Activity modules > External tool > Manage tools > Tool URL, then click 'Add LTI "
            "Advantage'."))
    platforms.claim_invite(invite)
    limits = {"allow_insecure": cfg["ALLOW_INSECURE"], "timeout": cfg["HTTP_TIMEOUT"],
              "max_bytes": cfg["HTTP_MAX_BYTES"]}
    config = fetch_platform_configuration(config_url, **limits)
    body = client_registration(cfg["BASE_URL"], name=cfg["TOOL_NAME"],
                               description=cfg["TOOL_DESCRIPTION"])
    result = post_registration(config, registration_token, body, **limits)
    platform, updated = platforms.complete_registration(invite, config, result)
    current_app.logger.info("registered platform=%s issuer=%s", platform.id, platform.issuer)
    return render_template("lti/registered.html", platform=platform, updated=updated,
                           deployment_id=result.deployment_id)
