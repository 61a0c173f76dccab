"""LTI Dynamic Registration, as Moodle 4.5 runs it.

Moodle opens the tool's registration URL with ``openid_configuration`` and
``registration_token``; the tool reads the configuration, posts its client registration with
the token as a bearer credential, and stores what Moodle answers.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext

from lti_tool.log_redaction import redact
from lti_tool.lti import http
from lti_tool.lti.exceptions import RegistrationError

logger = logging.getLogger(__name__)

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
AGS_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
]
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
SCOPES = [*AGS_SCOPES, NRPS_SCOPE]


@dataclass(frozen=True)
class PlatformConfiguration:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    product_family_code: str | None
    version: str | None


@dataclass(frozen=True)
class RegistrationResult:
    client_id: str
    deployment_id: str | None
    scopes: list[str]


def summary(reply: http.Reply, limit: int = 200) -> str:
    """A remote answer for the log: one line, printable characters only, secrets redacted."""
    text = re.sub(r"[^\x20-\x7e]+", " ", reply.text(limit * 2))
    return repr(redact(" ".join(text.split()))[:limit])


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def fetch_platform_configuration(url: str, *, allow_insecure: bool, timeout: float,
                                 max_bytes: int) -> PlatformConfiguration:
    """GET and check the platform's OpenID configuration."""
    try:
        reply = http.call("GET", url, allow_insecure=allow_insecure, timeout=timeout,
                          max_bytes=max_bytes, headers={"Accept": "application/json"})
    except http.UnsafeURL as exc:
        raise RegistrationError("config_url_refused", gettext(
            "The tool will not contact that address: %(error)s. Moodle must be reached over "
            "https on a public address.", error=exc)) from exc
    except http.FetchFailed as exc:
        raise RegistrationError("config_unreachable", gettext(
            "The tool could not read Moodle's configuration: %(error)s.", error=exc),
            status=502) from exc
    if reply.status != 200:
        raise RegistrationError("config_unreachable", gettext(
            "The tool could not read Moodle's configuration (HTTP %(status)s).",
            status=reply.status), status=502)
    try:
        data = reply.json()
    except http.FetchFailed as exc:
        raise RegistrationError("config_invalid",
                                gettext("Moodle's configuration is not valid JSON.")) from exc
    if not isinstance(data, dict):
        raise RegistrationError("config_invalid",
                                gettext("Moodle's configuration could not be read."))
    fields = ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri",
              "registration_endpoint"]
    missing = [f for f in fields if not isinstance(data.get(f), str) or not data.get(f)]
    if missing:
        raise RegistrationError("config_incomplete", gettext(
            "Moodle's configuration is missing: %(fields)s.", fields=", ".join(missing)))
    # The issuer must be the site that served the configuration, or a configuration URL
    # could name any issuer it liked.
    if _origin(data["issuer"]) != _origin(url):
        raise RegistrationError("issuer_mismatch", gettext(
            "Moodle's configuration names an issuer on another site than the one it came "
            "from."))
    for name in fields[1:]:
        try:
            http.check_url(data[name], allow_insecure=allow_insecure)
        except http.UnsafeURL as exc:
            raise RegistrationError("config_url_refused", gettext(
                "Moodle's %(name)s is not usable: it must be an https address on a public "
                "host.", name=name)) from exc
    algs = data.get("id_token_signing_alg_values_supported") or ["RS256"]
    if "RS256" not in algs:
        raise RegistrationError("config_unsupported",
                                gettext("Moodle does not sign with RS256."))
    platform = data.get(PLATFORM_CONFIGURATION) or {}
    return PlatformConfiguration(
        issuer=data["issuer"].rstrip("/"),
        authorization_endpoint=data["authorization_endpoint"],
        token_endpoint=data["token_endpoint"],
        jwks_uri=data["jwks_uri"],
        registration_endpoint=data["registration_endpoint"],
        product_family_code=platform.get("product_family_code"),
        version=platform.get("version"),
    )


def client_registration(base_url: str, *, name: str, description: str,
                        contact: str | None = None) -> dict[str, Any]:
    """The tool's registration request body (what Moodle stores as the tool's settings)."""
    base = base_url.rstrip("/")
    launch = base + "/lti/launch"
    body: dict[str, Any] = {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": base + "/lti/login",
        "redirect_uris": [launch],
        "client_name": name,
        "jwks_uri": base + "/lti/jwks",
        "logo_uri": base + "/static/logo.svg",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(SCOPES),
        TOOL_CONFIGURATION: {
            "domain": urlsplit(base).netloc,
            "description": description,
            "target_link_uri": launch,
            "claims": ["iss", "sub", "name", "given_name", "family_name", "email"],
            "messages": [
                {"type": "LtiDeepLinkingRequest", "target_link_uri": launch,
                 "label": "AI use declaration"},
                {"type": "LtiResourceLinkRequest", "target_link_uri": launch},
            ],
        },
    }
    if contact:
        body["contacts"] = [contact]
    return body


def post_registration(config: PlatformConfiguration, registration_token: str,
                      body: dict[str, Any], *, allow_insecure: bool, timeout: float,
                      max_bytes: int) -> RegistrationResult:
    """Send the registration; Moodle's refusal (plain text) becomes the error's message."""
    try:
        reply = http.call(
            "POST", config.registration_endpoint, allow_insecure=allow_insecure,
            timeout=timeout, max_bytes=max_bytes, json_body=body,
            headers={"Accept": "application/json",
                     "Authorization": f"Bearer {registration_token}"},
        )
    except (http.FetchFailed, http.UnsafeURL) as exc:
        raise RegistrationError("registration_unreachable", gettext(
            "Moodle could not be reached to complete the registration: %(error)s.",
            error=exc), status=502) from exc
    if reply.status >= 300:
        # What the remote host answered is never put on the page (it could be any HTML or
        # script); the log gets a short, redacted summary for the administrator.
        logger.warning("registration_refused status=%s content_type=%s said=%s",
                       reply.status, reply.content_type[:80], summary(reply))
        raise RegistrationError("registration_refused", gettext(
            "Moodle refused the registration (HTTP %(status)s). Open the registration again "
            "from Moodle's Manage tools page; if it is refused again, the tool's log has "
            "Moodle's answer for your administrator.", status=reply.status))
    try:
        data = reply.json()
    except http.FetchFailed as exc:
        raise RegistrationError("registration_invalid",
                                gettext("Moodle's answer could not be read.")) from exc
    client_id = data.get("client_id") if isinstance(data, dict) else None
    if not isinstance(client_id, str) or not client_id:
        raise RegistrationError("registration_invalid",
                                gettext("Moodle's answer has no client id."))
    tool_conf = data.get(TOOL_CONFIGURATION) or {}
    deployment_id = tool_conf.get("deployment_id")
    scopes = str(data.get("scope") or "").split()
    return RegistrationResult(client_id, str(deployment_id) if deployment_id else None, scopes)
