"""Response headers that keep pages where they belong: a Content-Security-Policy on every HTML
page (framed only by the registered Moodle sites, scripts only from the tool itself),
``Cache-Control: no-store`` on everything but static files and the JWKS, and HSTS on https.

The platforms' origins are read from the database at most once per
``FRAME_ANCESTORS_CACHE_SECONDS`` per process, and again right after this process commits a
change to a platform, so a page view costs no query.
"""

from __future__ import annotations

import re
import threading
import time
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, Response, current_app, request

from lti_tool.extensions import db
from lti_tool.platforms import changes

# Pages reached from a launch, shown inside Moodle's iframe (errors on them included).
FRAMED_BLUEPRINTS = {"admin", "als", "appeals", "course_requests", "learner", "policy_editor",
                     "privacy", "reporting", "requests", "staff"}
FRAMED_ENDPOINTS = {"lti.login", "lti.launch"}
# Opened from an email, outside Moodle: never framed.
TOP_LEVEL_ENDPOINTS = {"learner.answer_by_link", "learner.cases_by_link"}
# Moodle opens the registration URL in an iframe of the site being registered.
REGISTRATION_ENDPOINT = "lti.register"
# Public, cacheable responses (no personal data, no session).
CACHEABLE_ENDPOINTS = {"static", "lti.jwks"}

_ORIGIN = re.compile(r"https?://[a-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?")


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url`` as CSP writes a source, or None if it is not a
    plain http(s) URL (nothing from a URL can add a directive to the policy)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")
    return origin if _ORIGIN.fullmatch(origin) else None


class PlatformOrigins:
    """The active platforms' origins, memoised per process."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._origins: tuple[str, ...] = ()
        self._loaded_at = float("-inf")
        self._generation = -1

    def get(self) -> tuple[str, ...]:
        now = time.monotonic()
        if self._generation == changes.generation() and now - self._loaded_at < self.ttl:
            return self._origins
        with self._lock:
            from lti_tool.platforms.models import Platform

            generation = changes.generation()  # before reading: a change meanwhile is seen
            rows = db.session.execute(
                sa.select(Platform.issuer, Platform.auth_login_url).where(Platform.active)
            ).all()
            found = {origin_of(url) for row in rows for url in row}
            self._origins = tuple(sorted(o for o in found if o))
            self._loaded_at = now
            self._generation = generation
            return self._origins


def frame_ancestors() -> str:
    """The ``frame-ancestors`` sources for the current request."""
    endpoint = request.endpoint or ""
    if endpoint == REGISTRATION_ENDPOINT:
        origin = origin_of(request.args.get("openid_configuration", ""))
        return origin or "'none'"
    blueprint = endpoint.split(".", 1)[0] if "." in endpoint else ""
    if endpoint in TOP_LEVEL_ENDPOINTS or not (
            endpoint in FRAMED_ENDPOINTS or blueprint in FRAMED_BLUEPRINTS):
        return "'none'"
    origins: PlatformOrigins = current_app.extensions["aiu_platform_origins"]
    return " ".join(origins.get()) or "'none'"


def content_security_policy() -> str:
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors " + frame_ancestors())


def init_app(app: Flask) -> None:
    app.extensions["aiu_platform_origins"] = PlatformOrigins(
        float(app.config["FRAME_ANCESTORS_CACHE_SECONDS"]))
    hsts = (f"max-age={int(app.config['HSTS_MAX_AGE'])}"
            if urlsplit(app.config["BASE_URL"]).scheme == "https" else None)

    @app.after_request
    def security_headers(response: Response) -> Response:
        if response.mimetype == "text/html" and "Content-Security-Policy" not in response.headers:
            response.headers["Content-Security-Policy"] = content_security_policy()
        if request.endpoint not in CACHEABLE_ENDPOINTS:
            # Pages carry personal data: no browser or proxy may keep a copy.
            response.headers["Cache-Control"] = "no-store"
            response.vary.add("Cookie")
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", hsts)
        return response
