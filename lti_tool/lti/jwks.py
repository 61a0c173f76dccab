"""The platforms' public keys, cached so that a launch at steady state makes no network call.

The cache is Flask-Caching's (a file cache shared by the workers of one host by default,
Redis when configured). An id_token whose ``kid`` is not in the cached set triggers one
refetch, and at most one per ``JWKS_REFETCH_MIN_INTERVAL`` seconds, so forged kids cannot
turn the tool into a request amplifier against the platform.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from flask import current_app

from lti_tool.extensions import cache
from lti_tool.lti import http
from lti_tool.lti.exceptions import LaunchError


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
                          "The tool could not read Moodle's public keys to check this launch. "
                          "Try again in a minute; if it keeps happening, tell your "
                          "administrator.", status=502) from exc
    if not isinstance(keys, list):
        raise LaunchError("jwks_invalid", "Moodle's public key set could not be read.",
                          status=502)
    entry = {"fetched_at": time.time(), "keys": keys}
    cache.set(_cache_key(key_set_url), entry, timeout=current_app.config["JWKS_CACHE_TTL"])
    return entry


def find_key(key_set_url: str, kid: str) -> dict[str, Any] | None:
    """The platform's JWK for ``kid``, or None if the platform does not publish it."""
    entry = cache.get(_cache_key(key_set_url))
    if entry is None:
        entry = _fetch(key_set_url)
    else:
        match = _match(entry, kid)
        if match is not None:
            return match
        if time.time() - entry["fetched_at"] < current_app.config["JWKS_REFETCH_MIN_INTERVAL"]:
            return None
        entry = _fetch(key_set_url)
    return _match(entry, kid)


def _match(entry: dict[str, Any], kid: str) -> dict[str, Any] | None:
    for key in entry["keys"]:
        if isinstance(key, dict) and key.get("kid") == kid and key.get("kty") == "RSA":
            return key
    return None
