"""Rate limits on the endpoints anyone can call without a session (OIDC login, launch,
Dynamic Registration, emailed answer links) and on every form post.

Counting is the `limits` library's (fixed windows; counters in Redis when ``REDIS_URL`` is
set, shared by every worker, and in the process's memory otherwise). The Flask side is one
``before_request`` hook: the launch is the tool's hot path, and Flask-Limiter's per-request
machinery (resolving, filtering and scoping limits for every request) cost more CPU than
the whole role check, so only the lookup below runs per request.

Limits are settings (``RATE_LIMIT_*``, in the `limits` notation, e.g. ``30 per second; 600
per minute``), read on each request so they can be changed in tests. A limited client gets
the 429 page (JSON for API clients).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from flask import Flask, Response, current_app, request, session
from flask_babel import gettext
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from lti_tool.errors import error_response

# endpoint -> the setting holding its limit, counted per client address.
ROUTE_LIMITS = {
    "lti.login": "RATE_LIMIT_LOGIN",
    "lti.launch": "RATE_LIMIT_LAUNCH",
    "lti.register": "RATE_LIMIT_REGISTRATION",
    "learner.answer_by_link": "RATE_LIMIT_ANSWER_LINK",
}
# Every other form post, per endpoint and session.
FORM_POST_LIMIT = "RATE_LIMIT_FORM_POST"
KEY_PREFIX = "aiu-limits"


def client_address() -> str:
    """The client as rate limits and login-state caps count it: its IP address."""
    return request.remote_addr or "unknown"


def session_or_address() -> str:
    """A signed-in session (people behind one college NAT are counted apart), else the
    address. Only a session the store knows counts: a made-up cookie is a new session."""
    sid = getattr(session, "sid", None)
    if sid and not getattr(session, "new", True):
        return "session:" + hashlib.sha256(str(sid).encode()).hexdigest()[:32]
    return "address:" + client_address()


@lru_cache(maxsize=64)
def _parsed(text: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(text))


class RateLimits:
    """The app's counters and the check made before each request."""

    def __init__(self, storage_uri: str) -> None:
        self.window = FixedWindowRateLimiter(storage_from_string(storage_uri))

    def refused(self) -> str | None:
        """The limit the current request goes over (after counting it), or None."""
        config = current_app.config
        if not config["RATE_LIMITS_ENABLED"]:
            return None
        endpoint = request.endpoint or ""
        setting = ROUTE_LIMITS.get(endpoint)
        if setting is not None:
            key = client_address()
        elif request.method == "POST":
            setting, key = FORM_POST_LIMIT, session_or_address()
        else:
            return None
        for item in _parsed(str(config[setting])):
            if not self.window.hit(item, KEY_PREFIX, endpoint, key):
                return str(item)
        return None


def init_app(app: Flask) -> None:
    """Count and limit ``app``'s requests (counters as configured when the app is made)."""
    limits = RateLimits(app.config.get("REDIS_URL") or "memory://")
    app.extensions["aiu_rate_limits"] = limits

    @app.before_request
    def limit_request() -> Response | None:
        limit = limits.refused()
        if limit is None:
            return None
        current_app.logger.warning("refused reason=rate_limited endpoint=%s limit=%s",
                                   request.endpoint, limit)
        response = error_response(429, gettext("Too many requests"), gettext(
            "There have been too many requests from your connection in a short time. Wait a "
            "minute, then try again."), "rate_limited")
        response.headers["Retry-After"] = "60"
        return response
