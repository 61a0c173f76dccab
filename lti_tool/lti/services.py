"""OAuth 2.0 access to a platform's services (AGS, NRPS): a signed client assertion
(``private_key_jwt``) exchanged for a token, cached per registration and scope set."""

from __future__ import annotations

import hashlib
import time
import uuid

from flask import current_app
from flask_babel import gettext

from lti_tool.lti import http
from lti_tool.lti.exceptions import ServiceError
from lti_tool.lti.json_store import json_store
from lti_tool.lti.keystore import key_store
from lti_tool.platforms.models import Platform

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def client_assertion(platform: Platform) -> str:
    """A JWT proving the tool's identity to the platform's token endpoint (carries ``kid``)."""
    now = int(time.time())
    return key_store().sign({
        "iss": platform.client_id,
        "sub": platform.client_id,
        "aud": platform.auth_token_url,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    })


def _token_cache_key(platform: Platform, scopes: list[str]) -> str:
    raw = f"{platform.id}|{platform.client_id}|{' '.join(sorted(scopes))}"
    return "token:" + hashlib.sha256(raw.encode()).hexdigest()


def access_token(platform: Platform, scopes: list[str]) -> str:
    """A bearer token for ``scopes``, from the shared cache while it has a minute left."""
    key = _token_cache_key(platform, scopes)
    cached = json_store().get(key)
    if isinstance(cached, str) and cached:
        return cached
    cfg = current_app.config
    try:
        reply = http.call(
            "POST", platform.auth_token_url, allow_insecure=cfg["ALLOW_INSECURE"],
            timeout=cfg["HTTP_TIMEOUT"], max_bytes=cfg["HTTP_MAX_BYTES"],
            headers={"Accept": "application/json"},
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(platform),
                "scope": " ".join(sorted(scopes)),
            },
        )
        # Moodle answers with Content-Type text/html although the body is JSON.
        body = reply.json()
    except (http.FetchFailed, http.UnsafeURL) as exc:
        raise ServiceError("token_unavailable", gettext(
            "Moodle's token service failed: %(error)s.", error=exc)) from exc
    if reply.status != 200 or not isinstance(body, dict) or not body.get("access_token"):
        error = body.get("error") if isinstance(body, dict) else None
        current_app.logger.warning("token_refused platform=%s status=%s error=%s", platform.id,
                                   reply.status, error)
        raise ServiceError("token_refused", gettext(
            "Moodle refused the tool's request for access (%(error)s).", error=error) if error
            else gettext("Moodle refused the tool's request for access."))
    token = str(body["access_token"])
    lifetime = int(body.get("expires_in") or 3600)
    json_store().set(key, token, max(lifetime - 60, 1))
    return token


def forget_token(platform: Platform, scopes: list[str]) -> None:
    """Drop a cached token the platform no longer accepts."""
    json_store().delete(_token_cache_key(platform, scopes))
