"""The platforms' public keys, cached so that a launch at steady state makes no network call.

The key set is kept as JSON in the database (Redis when configured), shared by every worker,
with a per-process memo in front (:mod:`lti_tool.lti.json_store`). An id_token whose ``kid``
is not in the cached set is first looked up in the shared copy (another worker may have
refetched), then triggers one refetch, at most one per ``JWKS_REFETCH_MIN_INTERVAL``
seconds, so forged kids cannot turn the tool into a request amplifier against the platform.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from flask import current_app
from flask_babel import gettext

from lti_tool.lti import http
from lti_tool.lti.exceptions import LaunchError
from lti_tool.lti.json_store import json_store


def _cache_key(key_set_url: str) -> str:
    return "jwks:" + hashlib.sha256(key_set_url.encode("utf-8")).hexdigest()


def _fetch(key_set_url: str) -> dict[str, Any]:
    cfg = current_app.config
    try:
        reply = http.call("GET", key_set_url, allow_insecure=cfg["ALLOW_INSECURE"],
                          timeout=cfg["HTTP_TIMEOUT"], max_bytes=cfg["HTTP_MAX_BYTES"],
                          headers={"Accept": "application/json"})
        if reply.status != 200:
            raise http.FetchFailed(f"the platform's key set answered HTTP {reply.status}")
        keys = reply.json().get("keys")
    except (http.FetchFailed, http.UnsafeURL, AttributeError) as exc:
        current_app.logger.warning("jwks_fetch_failed url=%s error=%s", key_set_url, exc)
        raise LaunchError("jwks_unavailable",
                          gettext("The tool could not read Moodle's public keys to check this "
                                  "launch. Try again in a minute; if it keeps happening, tell "
                                  "your administrator."), status=502) from exc
    if not isinstance(keys, list):
        raise LaunchError("jwks_invalid", gettext("Moodle's public key set could not be read."),
                          status=502)
    entry = {"fetched_at": time.time(), "keys": keys}
    json_store().set(_cache_key(key_set_url), entry, current_app.config["JWKS_CACHE_TTL"])
    return entry


def find_key(key_set_url: str, kid: str) -> dict[str, Any] | None:
    """The platform's JWK for ``kid``, or None if the platform does not publish it."""
    store = json_store()
    key = _cache_key(key_set_url)
    entry = store.get(key)
    if entry is not None:
        match = _match(entry, kid)
        if match is not None:
            return match
        entry = store.get(key, fresh=True)
    if not isinstance(entry, dict):
        entry = _fetch(key_set_url)
    else:
        match = _match(entry, kid)
        if match is not None:
            return match
        fetched_at = float(entry.get("fetched_at") or 0)
        if time.time() - fetched_at < current_app.config["JWKS_REFETCH_MIN_INTERVAL"]:
            return None
        entry = _fetch(key_set_url)
    return _match(entry, kid)


def _match(entry: Any, kid: str) -> dict[str, Any] | None:
    keys = entry.get("keys") if isinstance(entry, dict) else None
    for key in keys if isinstance(keys, list) else []:
        if isinstance(key, dict) and key.get("kid") == kid and key.get("kty") == "RSA":
            return key
    return None
