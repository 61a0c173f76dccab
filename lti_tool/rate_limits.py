"""Rate limits (Flask-Limiter) on the endpoints anyone can call without a session (OIDC login,
launch, Dynamic Registration, emailed answer links) and on every form post.

Limits are settings (``RATE_LIMIT_*``, read on each request so they can be changed in
tests); counters live in Redis when ``REDIS_URL`` is set (shared by every worker) and in the
process's memory otherwise. A limited client gets the 429 page (JSON for API clients).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from flask import Flask, Response, current_app, request, session
from flask_limiter import Limit, Limiter, RateLimitExceeded

from lti_tool.errors import error_response

# endpoint -> the setting holding its limit, counted per client address.
ROUTE_LIMITS = {
    "lti.login": "RATE_LIMIT_LOGIN",
    "lti.launch": "RATE_LIMIT_LAUNCH",
    "lti.register": "RATE_LIMIT_REGISTRATION",
    "learner.answer_by_link": "RATE_LIMIT_ANSWER_LINK",
}


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


def _setting(name: str) -> Callable[[], str]:
    return lambda: str(current_app.config[name])


def init_app(app: Flask) -> None:
    """Bind a limiter to ``app`` (after its blueprints are registered)."""
    limiter = Limiter(
        key_func=client_address,
        storage_uri=app.config.get("REDIS_URL") or "memory://",
        key_prefix="aiu-limits",
        enabled=bool(app.config["RATE_LIMITS_ENABLED"]),
        headers_enabled=False,
        # Every form post, per endpoint and session (routes below have their own limits).
        default_limits=[Limit(limit_provider=_setting("RATE_LIMIT_FORM_POST"),
                              key_function=session_or_address, methods=["POST"])],
    )
    limiter.init_app(app)
    # The route limits hold the limiter weakly: the app keeps it alive (also when disabled).
    app.extensions["aiu_limiter"] = limiter
    for endpoint, setting in ROUTE_LIMITS.items():
        view = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.limit(_setting(setting))(view)  # type: ignore[assignment]

    @app.errorhandler(RateLimitExceeded)
    def too_many_requests(exc: RateLimitExceeded) -> Response:
        current_app.logger.warning("refused reason=rate_limited endpoint=%s limit=%s",
                                   request.endpoint, exc.description)
        response = error_response(429, "Too many requests", "There have been too many "
                                  "requests from your connection in a short time. Wait a "
                                  "minute, then try again.", "rate_limited")
        response.headers["Retry-After"] = "60"
        return response
