"""Moodle's LTI 1.3 security endpoints, as the stand-in serves them.

* ``DynamicRegistration``: ``openid-configuration.php`` and ``openid-registration.php``
  (``registration_helper``: same checks, same plain-text error words, same answer shape).
* ``AuthEndpoint``: ``auth.php`` (the OIDC authorisation step of a launch).
* ``TokenEndpoint``: ``token.php`` (client-credentials grant with a signed assertion) and
  ``certs.php``.
* ``DeepLinkingReturn``: ``contentitem_return.php`` and ``return.php``.

Error answers copy Moodle's, including its quirks: token.php's body is JSON-looking text sent
as ``text/html`` (and not valid JSON when the message holds quotes, e.g. a kid-less assertion's
``""kid" empty, unable to lookup correct key"``), registration errors are bare words such as
``invalid_response_types``.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Flask, Response, request
from markupsafe import escape

from lti_tool.demo.keys import JwtError, decode_jws, unverified_parts
from lti_tool.demo.messages import DEEP_LINKING
from lti_tool.demo.model import (
    ACTIVE,
    PENDING,
    AccessToken,
    DeepLinkResult,
    ToolRegistration,
)
from lti_tool.demo.serverside import PHP_HTML, server_side, status_line

if TYPE_CHECKING:
    from lti_tool.demo.platform import MoodleStandIn

TOOL_CONFIG = "https://purl.imsglobal.org/spec/lti-tool-configuration"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
TOKEN_LIFE = 3600
INVALID_REQUEST_PAGE = "Invalid request"


def error_page(message: str, status: int = 400) -> Response:
    """A Moodle-looking error page (HTML) with ``message``."""
    html = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title>"
        "</head><body><div role=\"alert\" class=\"errorbox alert alert-danger\">"
        f"<p class=\"errormessage\">{escape(message)}</p></div></body></html>\n")
    return Response(html, status=status, content_type=PHP_HTML)


def plain(message: str, status: int) -> Response:
    """A bare-text answer sent with PHP's default content type, as Moodle does."""
    return Response(message, status=status_line(status), content_type=PHP_HTML)


class RegistrationError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _param(payload: dict[str, Any], key: str, required: bool) -> Any:
    """``registration_helper::get_parameter``: missing or empty counts as absent."""
    value = payload.get(key)
    if value is None or value == "" or value == [] or value == {} or value is False:
        if required:
            raise RegistrationError(f"missing required attribute {key}")
        return None
    return value


class DynamicRegistration:
    """openid-configuration.php and openid-registration.php."""

    def __init__(self, standin: MoodleStandIn) -> None:
        self.standin = standin

    def configuration(self) -> Response:
        s = self.standin
        body = {
            "issuer": s.issuer,
            "token_endpoint": s.url("/mod/lti/token.php"),
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "jwks_uri": s.url("/mod/lti/certs.php"),
            "authorization_endpoint": s.url("/mod/lti/auth.php"),
            "registration_endpoint": s.url("/mod/lti/openid-registration.php"),
            "scopes_supported": [
                "https://purl.imsglobal.org/spec/lti-bo/scope/basicoutcome",
                "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
                "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
                "https://purl.imsglobal.org/spec/lti-ags/scope/score",
                "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
                "https://purl.imsglobal.org/spec/lti-ts/scope/toolsetting",
                "openid",
            ],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
            "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                "product_family_code": "moodle",
                "version": s.release,
                "messages_supported": [
                    {"type": "LtiResourceLinkRequest"},
                    {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]},
                ],
                "variables": MOODLE_VARIABLES,
            },
        }
        body.update(s.openid_configuration_overrides)
        return Response(json.dumps(body), content_type="application/json; charset=utf-8")

    def register(self) -> Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return plain("missing_registration_token", 401)
        try:
            payload = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            payload = None
        try:
            client_id, existing = self._validate_token(auth[7:].strip())
            if not isinstance(payload, dict):
                raise RegistrationError("missing required attribute response_types")
            config = self._to_config(payload)
            tool = self._store(config, client_id, existing)
        except RegistrationError as err:
            return plain(str(err), err.status)
        body = self._to_registration(tool)
        return Response(json.dumps(body), content_type="application/json; charset=utf-8")

    def _validate_token(self, token: str) -> tuple[str, ToolRegistration | None]:
        s = self.standin
        try:
            _header, claims = decode_jws(token, s.keys.public_keys())
        except JwtError as err:
            raise RegistrationError(str(err), 401) from err
        scope = claims.get("scope")
        sub = str(claims.get("sub", ""))
        if scope == "reg":
            if s.tool_by_client_id(sub) is not None:
                raise RegistrationError("token_already_used", 401)
            return sub, None
        if scope == "reg-update":
            tool = s.tools.get(int(sub)) if sub.isdigit() else None
            if tool is None:
                raise RegistrationError("Unknown client", 400)
            return tool.client_id, tool
        raise RegistrationError("Incorrect scope", 403)

    @staticmethod
    def _to_config(payload: dict[str, Any]) -> dict[str, Any]:
        """``registration_to_config``: validate and pick what Moodle keeps."""
        response_types = _param(payload, "response_types", True)
        initiate_login_uri = _param(payload, "initiate_login_uri", True)
        redirect_uris = _param(payload, "redirect_uris", True)
        client_name = _param(payload, "client_name", True)
        jwks_uri = _param(payload, "jwks_uri", True)
        auth_method = _param(payload, "token_endpoint_auth_method", True)
        application_type = _param(payload, "application_type", False)
        logo_uri = _param(payload, "logo_uri", False)
        tool_config = _param(payload, TOOL_CONFIG, True)
        if not isinstance(tool_config, dict):
            raise RegistrationError(f"missing required attribute {TOOL_CONFIG}")
        domain = _param(tool_config, "domain", False)
        target_link_uri = _param(tool_config, "target_link_uri", False)
        custom = _param(tool_config, "custom_parameters", False)
        scope = _param(payload, "scope", False)
        claims = _param(tool_config, "claims", False)
        messages = tool_config.get("messages") or []
        description = _param(tool_config, "description", False)

        from lti_tool.demo.platform import domain_of

        if not domain:
            raise RegistrationError("missing_domain")
        target_link_uri = target_link_uri or f"https://{domain}"
        if domain_of(str(domain)) != domain_of(str(target_link_uri)):
            raise RegistrationError("domain_targetlinkuri_mismatch")
        if not isinstance(response_types, list) or "id_token" not in response_types:
            raise RegistrationError("invalid_response_types")
        if not isinstance(redirect_uris, list):
            raise RegistrationError("invalid_redirect_uris")
        if auth_method != "private_key_jwt":
            raise RegistrationError("invalid_token_endpoint_auth_method")
        if application_type and application_type != "web":
            raise RegistrationError("invalid_application_type")

        deep_linking_url: str | None = None
        for message in messages if isinstance(messages, list) else []:
            if isinstance(message, dict) and message.get("type") == DEEP_LINKING:
                deep_linking_url = str(message.get("target_link_uri") or "") or str(
                    target_link_uri)
        scopes = str(scope or "").split(" ")
        claim_list = claims if isinstance(claims, list) else []
        return {
            "name": str(client_name), "initiate_login_uri": str(initiate_login_uri),
            "redirect_uris": [str(u).strip() for u in redirect_uris],
            "jwks_uri": str(jwks_uri), "target_link_uri": str(target_link_uri),
            "domain": domain_of(str(domain)), "deep_linking_url": deep_linking_url,
            "description": str(description or ""), "logo_uri": str(logo_uri or ""),
            "custom_parameters": {str(k): str(v).strip() for k, v in custom.items()}
            if isinstance(custom, dict) else {},
            "scopes": scopes,
            "send_name": any(c in claim_list for c in ("name", "given_name", "family_name")),
            "send_email": "email" in claim_list,
        }

    def _store(self, config: dict[str, Any], client_id: str,
               existing: ToolRegistration | None) -> ToolRegistration:
        from lti_tool.demo.platform import scopes_to_services

        s = self.standin
        gradesync, memberships, toolsettings = scopes_to_services(config.pop("scopes"))
        with s.lock:
            if existing is not None:
                tool = existing
                for key, value in config.items():
                    setattr(tool, key, value)
                tool.gradesync, tool.memberships = gradesync, memberships
                tool.toolsettings = toolsettings
                return tool
            tool = ToolRegistration(
                type_id=s._next_type_id, client_id=client_id, status=PENDING,
                gradesync=gradesync, memberships=memberships, toolsettings=toolsettings,
                servicesalt=s._servicesalt(), registered_dynamically=True, **config)
            s._next_type_id += 1
            s.tools[tool.type_id] = tool
            return tool

    @staticmethod
    def _to_registration(tool: ToolRegistration) -> dict[str, Any]:
        """``config_to_registration`` in the key order of the 4.5 capture."""
        tool_config: dict[str, Any] = {
            "version": "1.3.0",
            "deployment_id": tool.deployment_id,
            "target_link_uri": tool.target_link_uri,
            "domain": tool.domain,
            "description": tool.description,
        }
        if tool.deep_linking_url:
            tool_config["messages"] = [{"type": DEEP_LINKING,
                                        "target_link_uri": tool.deep_linking_url}]
        if tool.custom_parameters:
            tool_config["custom_parameters"] = dict(tool.custom_parameters)
        claims = ["sub", "iss"]
        if tool.send_name:
            claims += ["name", "family_name", "given_name"]
        if tool.send_email:
            claims.append("email")
        tool_config["claims"] = claims
        return {
            "client_id": tool.client_id,
            "response_types": ["id_token"],
            "jwks_uri": tool.jwks_uri,
            "initiate_login_uri": tool.initiate_login_uri,
            "grant_types": ["client_credentials", "implicit"],
            "redirect_uris": list(tool.redirect_uris),
            "application_type": "web",
            "token_endpoint_auth_method": "private_key_jwt",
            "client_name": tool.name,
            "logo_uri": tool.logo_uri,
            "scope": " ".join(tool.registration_scopes()),
            TOOL_CONFIG: tool_config,
        }


class AuthEndpoint:
    """auth.php: checks the OIDC authorisation request, answers with the auto-POSTed
    id_token (or an auto-POSTed ``error``), in Moodle 4.5's order of checks.

    Errors found before the pending launch is loaded, an unknown/used launch, or a
    ``redirect_uri`` not registered exactly give a 400 error page ("Invalid request");
    later ones (``unauthorized_client``, ``access_denied``, bad ``response_mode`` or
    ``prompt``) are POSTed to the redirect_uri as ``error``/``error_description``/``state``.
    """

    def __init__(self, standin: MoodleStandIn) -> None:
        self.standin = standin

    def handle(self) -> Response:
        s = self.standin
        p = request.values
        scope, response_type = p.get("scope", ""), p.get("response_type", "")
        client_id, redirect_uri = p.get("client_id", ""), p.get("redirect_uri", "")
        login_hint, nonce = p.get("login_hint", ""), p.get("nonce", "")
        state, response_mode = p.get("state", ""), p.get("response_mode", "")
        prompt = p.get("prompt", "")
        error, desc = "", ""
        ok = all((scope, response_type, client_id, redirect_uri, login_hint, nonce))
        if not ok:
            error = "invalid_request"
        try:
            hint = json.loads(p.get("lti_message_hint", ""))
        except ValueError:
            hint = None
        launch_id = hint.get("launchid") if isinstance(hint, dict) else None
        ok = ok and bool(launch_id)
        if not ok:
            error, desc = "invalid_request", "No launch id in LTI hint"
        if ok and scope != "openid":
            ok, error = False, "invalid_scope"
        if ok and response_type != "id_token":
            ok, error = False, "unsupported_response_type"
        tool: ToolRegistration | None = None
        with s.lock:
            pending = s.pending_launches.pop(str(launch_id), None) if ok else None
            if pending is not None:
                tool = s.tools.get(pending.type_id)
                ok = tool is not None and client_id == tool.client_id
                if not ok:
                    error = "unauthorized_client"
            if ok and pending is not None and login_hint != str(pending.user_id):
                ok, error = False, "access_denied"
        if tool is None:
            return error_page(INVALID_REQUEST_PAGE)
        if redirect_uri not in [u.strip() for u in tool.redirect_uris]:
            return error_page(INVALID_REQUEST_PAGE)
        if ok and response_mode != "form_post":
            ok, error, desc = False, "invalid_request", "Invalid response_mode"
        if ok and prompt and prompt != "none":
            ok, error, desc = False, "invalid_request", "Invalid prompt"
        if ok and tool.status != ACTIVE:
            ok, error, desc = False, "unauthorized_client", "Tool is pending activation"
        params: dict[str, str] = {}
        if ok and pending is not None:
            with s.lock:
                claims = s.messages.build(pending, nonce)
                params["id_token"] = s.sign_id_token(claims, redirect_uri)
        else:
            params["error"] = error
            if desc:
                params["error_description"] = desc
        params["state"] = state
        return Response(auto_post_form(redirect_uri, params, "ltiAuthForm"),
                        content_type=PHP_HTML)


def auto_post_form(action: str, fields: dict[str, str], name: str, target: str = "") -> str:
    """Moodle's auto-submitting form (``ltiAuthForm`` / ``ltiInitiateLoginForm``)."""
    target_attr = f' target="{escape(target)}"' if target else ""
    lines = [f'<form action="{escape(action)}" name="{name}" id="{name}"{target_attr} '
             'method="post" enctype="application/x-www-form-urlencoded">']
    for key, value in fields.items():
        lines.append(f'  <input type="hidden" name="{escape(key)}" value="{escape(value)}"/>')
    lines.append("</form>")
    lines.append('<script type="text/javascript">\n//<![CDATA[\n'
                 f"document.{name}.submit();\n//]]>\n</script>\n")
    return "\n".join(lines)


class TokenEndpoint:
    """token.php (client_credentials + private_key_jwt) and certs.php."""

    def __init__(self, standin: MoodleStandIn) -> None:
        self.standin = standin

    def certs(self) -> Response:
        with self.standin.lock:
            self.standin.jwks_fetch_count += 1
        return Response(json.dumps(self.standin.jwks(), indent=4),
                        content_type="application/json; charset=utf-8")

    @staticmethod
    def _answer(body: str, status: int = 200) -> Response:
        # Moodle never sets a content type here: PHP's default text/html goes out.
        return Response(body, status=status_line(status), content_type=PHP_HTML)

    def _error(self, error: str) -> Response:
        return self._answer('{\n  "error" : "' + error + '"\n}', 400)

    def token(self) -> Response:
        s = self.standin
        content_type = (request.headers.get("Content-Type") or "").split(";", 1)[0]
        if request.method != "POST" or content_type != "application/x-www-form-urlencoded":
            return self._error("invalid_request")
        form = request.form
        assertion = form.get("client_assertion", "")
        assertion_type = form.get("client_assertion_type", "")
        grant_type = form.get("grant_type", "")
        scope = form.get("scope", "")
        if not (assertion and assertion_type and grant_type and scope):
            return self._error("invalid_request")
        if (assertion_type != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                or grant_type != "client_credentials"):
            return self._error("unsupported_grant_type")
        try:
            _header, unverified = unverified_parts(assertion)
        except JwtError:
            return self._error("invalid_request")
        sub = unverified.get("sub")
        if not sub:
            return self._error("invalid_request")
        tool = s.tool_by_client_id(str(sub))
        if tool is None:
            return self._error("invalid_client")
        try:
            _header, claims = s.tool_keysets.verify(tool.client_id, tool.jwks_uri, assertion)
        except JwtError as err:
            return self._error(str(err))
        if s.strict_assertions:
            problem = self._strict_problem(claims, tool)
            if problem:
                return self._error(problem)
        granted = [x for x in scope.split(" ") if x in tool.permitted_scopes()]
        if not granted:
            return self._error("invalid_scope")
        token = secrets.token_hex(16)
        with s.lock:
            s.access_tokens[token] = AccessToken(token, tool.type_id, granted,
                                                 time.time() + TOKEN_LIFE)
        body = ('{\n  "access_token" : "' + token + '",\n  "token_type" : "Bearer",\n'
                f'  "expires_in" : {TOKEN_LIFE},\n  "scope" : "' + " ".join(granted) + '"\n}')
        return self._answer(body)

    def _strict_problem(self, claims: dict[str, Any], tool: ToolRegistration) -> str:
        """Stand-in-only checks of a client assertion (Moodle 4.5 checks none of these)."""
        s = self.standin
        token_url = s.url("/mod/lti/token.php")
        if claims.get("iss") != tool.client_id or claims.get("sub") != tool.client_id:
            return "invalid_client: iss and sub must both be the client_id"
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if token_url not in audiences:
            return f"invalid_client: aud must be {token_url}"
        if not isinstance(claims.get("exp"), int | float):
            return "invalid_client: exp is required"
        jti = claims.get("jti")
        if not jti:
            return "invalid_client: jti is required"
        with s.lock:
            if (tool.client_id, str(jti)) in s.used_assertion_ids:
                return "invalid_client: jti already used"
            s.used_assertion_ids.add((tool.client_id, str(jti)))
        return ""


class DeepLinkingReturn:
    """contentitem_return.php: verifies the tool's ``LtiDeepLinkingResponse`` and adds one
    activity per ``ltiResourceLink`` item; return.php: where a tool sends the user back."""

    def __init__(self, standin: MoodleStandIn) -> None:
        self.standin = standin

    def _fail(self, message: str, course_id: int | None = None,
              claims: dict[str, Any] | None = None) -> Response:
        with self.standin.lock:
            self.standin.deep_link_results.append(
                DeepLinkResult(False, message, course_id, [], claims or {}))
        return Response(message, status=400, mimetype="text/plain")

    def handle(self) -> Response:
        s = self.standin
        type_id, course_id = request.values.get("id", ""), request.values.get("course", "")
        for name, value in (("id", type_id), ("course", course_id)):
            if not value.isdigit():
                return self._fail(f"A required parameter ({name}) was missing")
        course = int(course_id)
        jwt_param = request.values.get("JWT", "")
        if not jwt_param:
            return self._fail("A required parameter (oauth_consumer_key) was missing", course)
        tool = s.tools.get(int(type_id))
        try:
            _h, unverified = unverified_parts(jwt_param)
        except JwtError:
            unverified = {}
        if not unverified.get("iss"):
            return self._fail("Consumer key is incorrect.", course)
        if tool is None:
            return self._fail("LTI tool type not found.", course)
        if unverified.get("iss") != tool.client_id:
            return self._fail("Consumer key is incorrect.", course)
        try:
            _h, claims = s.tool_keysets.verify(tool.client_id, tool.jwks_uri, jwt_param)
        except JwtError as err:
            return self._fail(str(err), course)
        user = s.user_by_sesskey(request.values.get("sesskey", ""))
        if user is None:
            return self._fail("Incorrect sesskey submitted, form not accepted!", course, claims)
        if course not in s.courses or not s.can_manage_activities(user, course):
            return self._fail("Sorry, but you do not currently have permissions to do that "
                              "(Add new external tool activities).", course, claims)
        if s.strict_assertions:
            problem = self._strict_problem(claims, tool)
            if problem:
                return self._fail(problem, course, claims)
        error_msg = claims.get(DL + "errormsg")
        if error_msg:
            return self._fail(str(error_msg), course, claims)
        items = claims.get(DL + "content_items")
        if items is None:
            items = []
        if not isinstance(items, list):
            return self._fail("Invalid Content-Item response format.", course, claims)
        for item in items:
            if not isinstance(item, dict) or item.get("type") != "ltiResourceLink":
                return self._fail("Invalid Content-Item response format.", course, claims)
            url = item.get("url")
            if url and not domain_matches(str(url), tool.domain):
                return self._fail("Tool URL's domain does not match tool configuration.",
                                  course, claims)
        created = [self._add(course, tool, item) for item in items]
        message = str(claims.get(DL + "msg") or (
            "Successfully fetched tool configuration from content" if created else
            "No content was selected"))
        with s.lock:
            s.deep_link_results.append(DeepLinkResult(True, message, course, created, claims))
        course_url = f"/course/view.php?id={course}&as={user.username}"
        html = (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>Content added</title></head><body>"
            f"<p role=\"status\" id=\"contentitem-return\" data-activity-ids=\""
            f"{','.join(str(a) for a in created)}\">{escape(message)}</p>"
            f"<p><a href=\"{escape(course_url)}\" target=\"_top\">Continue to the course</a></p>"
            f"<script>window.top.location.href = {json.dumps(course_url)};</script>"
            "</body></html>\n")
        return Response(html, content_type=PHP_HTML)

    def _strict_problem(self, claims: dict[str, Any], tool: ToolRegistration) -> str:
        """Stand-in-only checks of the response (Moodle 4.5 does not make them)."""
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.standin.issuer not in audiences:
            return f"Invalid aud: the response must be addressed to {self.standin.issuer}"
        if claims.get(LTI + "deployment_id") != tool.deployment_id:
            return f"Invalid deployment_id: expected {tool.deployment_id}"
        if claims.get(LTI + "message_type") != "LtiDeepLinkingResponse":
            return "Invalid message_type: expected LtiDeepLinkingResponse"
        if claims.get(LTI + "version") != "1.3.0":
            return "Invalid version: expected 1.3.0"
        return ""

    def _add(self, course_id: int, tool: ToolRegistration, item: dict[str, Any]) -> int:
        line_item = item.get("lineItem")
        specs: list[dict[str, Any]] = []
        if isinstance(line_item, dict):
            spec = {k: line_item[k] for k in ("scoreMaximum", "resourceId", "tag",
                                              "submissionReview") if k in line_item}
            specs.append(spec)
        custom = item.get("custom") if isinstance(item.get("custom"), dict) else {}
        activity = self.standin.add_activity(
            course_id, title=str(item.get("title") or tool.name), client_id=tool.client_id,
            line_items=specs, description=str(item.get("text") or ""),
            url=str(item.get("url") or "") or None,
            custom={str(k): str(v) for k, v in (custom or {}).items()},
            from_deep_linking=True)
        return activity.id

    def back(self) -> Response:
        """return.php: back in the course, showing a tool's ``lti_msg``/``lti_errormsg``."""
        s = self.standin
        user = s.user_by_sesskey(request.args.get("sesskey", ""))
        course = request.args.get("course", "")
        if user is None or not course.isdigit():
            return error_page("Incorrect sesskey submitted, form not accepted!")
        note = request.args.get("lti_errormsg") or request.args.get("lti_msg") or ""
        url = f"/course/view.php?id={course}&as={user.username}"
        if note:
            from urllib.parse import quote

            url += "&notice=" + quote(note)
        return Response(
            f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Return"
            f"</title></head><body><p><a href=\"{escape(url)}\" target=\"_top\">Return to the "
            f"course</a></p><script>window.top.location.href = {json.dumps(url)};</script>"
            "</body></html>\n", content_type=PHP_HTML)


def domain_matches(url: str, domain: str) -> bool:
    from lti_tool.demo.platform import domain_of

    return domain_of(url).lower() == domain.lower() or urlsplit(url).netloc.lower() == (
        domain.lower())


def register_lti_endpoints(app: Flask, standin: MoodleStandIn) -> None:
    """Route Moodle's LTI security endpoints to their handlers."""
    registration = DynamicRegistration(standin)
    auth = AuthEndpoint(standin)
    tokens = TokenEndpoint(standin)
    returns = DeepLinkingReturn(standin)

    app.add_url_rule("/mod/lti/openid-configuration.php", "openid_configuration",
                     server_side(standin, "openid-configuration", record=False)(
                         registration.configuration))
    app.add_url_rule("/mod/lti/openid-registration.php", "openid_registration",
                     server_side(standin, "registration")(registration.register),
                     methods=["POST"])
    app.add_url_rule("/mod/lti/auth.php", "auth", auth.handle, methods=["GET", "POST"])
    app.add_url_rule("/mod/lti/certs.php", "certs",
                     server_side(standin, "certs", record=False)(tokens.certs))
    app.add_url_rule("/mod/lti/token.php", "token",
                     server_side(standin, "token")(tokens.token), methods=["GET", "POST"])
    app.add_url_rule("/mod/lti/contentitem_return.php", "contentitem_return", returns.handle,
                     methods=["GET", "POST"])
    app.add_url_rule("/mod/lti/return.php", "lti_return", returns.back)


MOODLE_VARIABLES = [
    "basic-lti-launch-request", "ContentItemSelectionRequest", "ToolProxyRegistrationRequest",
    "Context.id", "Context.title", "Context.label", "Context.id.history", "Context.sourcedId",
    "Context.longDescription", "Context.timeFrame.begin", "CourseSection.title",
    "CourseSection.label", "CourseSection.sourcedId", "CourseSection.longDescription",
    "CourseSection.timeFrame.begin", "CourseSection.timeFrame.end", "ResourceLink.id",
    "ResourceLink.title", "ResourceLink.description", "User.id", "User.username",
    "Person.name.full", "Person.name.given", "Person.name.family", "Person.email.primary",
    "Person.sourcedId", "Person.name.middle", "Person.address.street1",
    "Person.address.locality", "Person.address.country", "Person.address.timezone",
    "Person.phone.primary", "Person.phone.mobile", "Person.webaddress", "Membership.role",
    "Result.sourcedId", "Result.autocreate", "BasicOutcome.sourcedId", "BasicOutcome.url",
    "Moodle.Person.userGroupIds",
]
