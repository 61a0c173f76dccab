"""OIDC third-party initiated login: the first leg of every launch."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from flask_babel import gettext

from lti_tool.lti.exceptions import NOT_REGISTERED, LaunchError
from lti_tool.lti.launch import on_base_url
from lti_tool.lti.state import LaunchStateStore, PendingLogin, digest
from lti_tool.lti.tool_config import DatabaseToolConfig, PlatformRegistration


@dataclass(frozen=True)
class LoginRedirect:
    url: str
    browser_secret: str


def begin_login(params: Mapping[str, str], *, store: LaunchStateStore, base_url: str,
                browser_secret: str | None, state_ttl: int, client: str = "",
                states_per_client: int = 0) -> LoginRedirect:
    """Check a login initiation and prepare the redirect to the platform's auth endpoint.

    The state and nonce are stored server-side; the state is bound to ``browser_secret``
    (a random value in a cookie of this browser, made here if the browser has none). At
    most ``states_per_client`` logins wait per ``client`` (its address): older ones go.
    """
    iss = params.get("iss", "")
    login_hint = params.get("login_hint", "")
    target_link_uri = params.get("target_link_uri", "")
    client_id = params.get("client_id", "")
    if not iss or not login_hint or not target_link_uri:
        raise LaunchError("login_incomplete", gettext(
            "The sign-in from Moodle was incomplete. Reload the page in Moodle to start again."))
    if not on_base_url(target_link_uri, base_url):
        raise LaunchError("target_foreign", gettext("The launch points at another site."))
    config = DatabaseToolConfig()
    registration: PlatformRegistration | None
    if client_id:
        registration = config.find_registration_by_params(iss, client_id)
    else:
        registration = config.find_registration_by_issuer(iss)
    if registration is None:
        raise LaunchError("platform_unknown", NOT_REGISTERED, status=403)
    platform = registration.platform
    if not platform.active:
        raise LaunchError("platform_inactive", gettext(
            "The tool has been switched off for this Moodle site. Ask your administrator."),
            status=403)

    secret = browser_secret or secrets.token_urlsafe(32)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    store.save_login(state, PendingLogin(nonce, platform.id, digest(secret)), state_ttl,
                     client=digest(client) if client else "", per_client=states_per_client)
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": platform.client_id,
        "redirect_uri": base_url.rstrip("/") + "/lti/launch",
        "login_hint": login_hint,
        "state": state,
        "nonce": nonce,
    }
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if "?" in platform.auth_login_url else "?"
    return LoginRedirect(platform.auth_login_url + separator + urlencode(query), secret)
