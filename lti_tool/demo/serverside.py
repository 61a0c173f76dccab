"""Plumbing shared by the stand-in's server-to-server endpoints.

``server_side`` wraps a Flask view with the test hooks (``hold_next``, ``delay_seconds``,
``down``, ``fail_next``) and records the exchange in ``requests_log``. ``service_response``
reproduces Moodle's ``mod_lti\\local\\ltiservice\\response::send``: the reason goes in the
status line, and an error without a body gets Moodle's JSON error document
(``{"status", "reason", "request": {"method", "url", "accept", "contentType"}}``).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Response, request

from lti_tool.demo.model import RecordedRequest

if TYPE_CHECKING:
    from lti_tool.demo.platform import MoodleStandIn

REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
           300: "Multiple Choices", 400: "Bad Request", 401: "Unauthorized",
           402: "Payment Required", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict",
           415: "Unsupported Media Type", 500: "Internal Server Error",
           501: "Not Implemented", 503: "Service Unavailable"}
PHP_HTML = "text/html; charset=utf-8"


def php_json(value: Any, *, escape_slashes: bool = True, pretty: bool = False) -> str:
    """``json_encode`` output: compact, non-ASCII escaped, "/" escaped unless told not to."""
    if pretty:
        text = json.dumps(value, indent=4)
    else:
        text = json.dumps(value, separators=(",", ":"))
    return text.replace("/", "\\/") if escape_slashes else text


def number(value: float) -> int | float:
    """A grade value as Moodle's JSON shows it (whole numbers without ".0")."""
    return int(value) if float(value).is_integer() else float(value)


def latin1_header(value: str) -> str:
    """Send a header's UTF-8 bytes verbatim (as PHP does) through a WSGI latin-1 str."""
    return value.encode("utf-8").decode("latin-1")


def status_line(code: int, reason: str = "") -> str:
    reason = reason or REASONS.get(code) or REASONS[(code // 100) * 100]
    safe = reason.encode("latin-1", "replace").decode("latin-1").replace("\n", " ")
    return f"{code} {safe}"


def service_response(code: int, *, reason: str = "", body: str = "", content_type: str = "",
                     headers: dict[str, str] | None = None) -> Response:
    """Moodle's service response: ``content_type`` gets "; charset=utf-8"; an error with no
    body becomes the JSON error document."""
    response = Response(status=status_line(code, reason))
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if 200 <= code < 300 or body:
        if content_type:
            response.headers["Content-Type"] = f"{content_type}; charset=utf-8"
        elif body:
            response.headers["Content-Type"] = PHP_HTML
        response.set_data(body)
    elif code >= 400:
        doc: dict[str, Any] = {
            "status": code,
            "reason": reason or REASONS.get(code) or REASONS[(code // 100) * 100],
            "request": {"method": request.method, "url": request_uri()},
        }
        if request.headers.get("Accept") is not None:
            doc["request"]["accept"] = request.headers["Accept"]
        if request.headers.get("Content-Type") is not None:
            doc["request"]["contentType"] = request.headers["Content-Type"].split(";", 1)[0]
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        response.set_data(json.dumps(doc, indent=4))
    if code == 204:
        response.headers.pop("Content-Type", None)
    return response


def request_uri() -> str:
    """``$_SERVER['REQUEST_URI']``: path plus raw query."""
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")


def _record(kind: str) -> RecordedRequest:
    body = request.get_data(cache=True, as_text=True)
    parsed: Any = None
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    form = {k: v for k, v in request.form.items()} if request.mimetype == (
        "application/x-www-form-urlencoded") else {}
    return RecordedRequest(
        method=request.method, path=request.path,
        query={k: v for k, v in request.args.items()}, url=request.url,
        headers={k: v for k, v in request.headers.items()},
        content_type=request.headers.get("Content-Type"),
        authorization=request.headers.get("Authorization"), json=parsed, form=form)


def server_side(standin: MoodleStandIn, kind: str | Callable[[], str], *,
                record: bool = True) -> Callable[[Callable[..., Response]],
                                                 Callable[..., Response]]:
    """Decorate a view of a server-to-server endpoint with the stand-in's test hooks.

    ``kind`` names the endpoint for ``fail_next(only=...)`` ("token", "ags", "nrps", ...), or
    is a callable computing it from the current request.
    """

    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            name = kind() if callable(kind) else kind
            entry = _record(name) if record else None
            hold = standin.take_hold(name, request.path)
            if hold is not None:
                hold.arrived.set()
                hold.release.wait(timeout=300)
            if standin.delay_seconds:
                time.sleep(standin.delay_seconds)
            failure = standin.take_failure(name, request.path)
            if standin.down:
                response = Response("Service Unavailable", status=503, mimetype="text/plain")
            elif failure is not None:
                status, body = failure
                response = Response(body, status=status_line(status), content_type=PHP_HTML)
            else:
                response = view(*args, **kwargs)
            if entry is not None:
                entry.status = response.status_code
                entry.response_body = response.get_data(as_text=True)
                with standin.lock:
                    standin.requests_log.append(entry)
            if hold is not None:
                hold.answered.set()
            return response

        return wrapper

    return decorate
