"""Every error handler: plain-English pages for people, JSON for API clients, a reason code
in the log, never a traceback on screen, and the request's writes rolled back."""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_babel import gettext, lazy_gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from lti_tool.extensions import db
from lti_tool.lti.exceptions import ToolError

_FRIENDLY = {
    400: (lazy_gettext("The request could not be understood"),
          lazy_gettext("Something in the request was wrong or missing. Go back and try again.")),
    401: (lazy_gettext("Please open the tool from Moodle"),
          lazy_gettext("Open the activity again in Moodle.")),
    403: (lazy_gettext("You can't open this page"),
          lazy_gettext("Your role or course does not give access to it.")),
    404: (lazy_gettext("Page not found"),
          lazy_gettext("There is nothing here. Check the address or go back.")),
    405: (lazy_gettext("That action is not allowed here"),
          lazy_gettext("Use the buttons and links in the page.")),
    413: (lazy_gettext("That was too large"),
          lazy_gettext("The request was larger than the tool accepts.")),
    429: (lazy_gettext("Too many requests"), lazy_gettext("Wait a minute and try again.")),
    500: (lazy_gettext("Something went wrong on our side"),
          lazy_gettext("The problem has been logged. Try again in a minute; if it keeps "
                       "happening, tell your administrator.")),
}


def _wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > \
        request.accept_mimetypes["text/html"]


def error_response(status: int, title: object, message: object, reason: str) -> Response:
    """The error page (or JSON). ``title`` and ``message`` may be lazy strings: they are
    rendered in the request's locale."""
    db.session.rollback()
    title, message = str(title), str(message)
    if _wants_json():
        resp = jsonify({"error": reason, "title": title, "message": message})
    else:
        resp = Response(render_template("errors/error.html", status=status, title=title,
                                        message=message, reason=reason))
    resp.status_code = status
    return resp


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(ToolError)
    def tool_error(exc: ToolError) -> Response:
        current_app.logger.warning("refused reason=%s status=%s path=%s", exc.reason,
                                   exc.status, request.path)
        return error_response(exc.status, exc.title, exc.message, exc.reason)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Response:
        current_app.logger.warning("refused reason=csrf path=%s", request.path)
        return error_response(400, gettext("This form has expired"),
                              gettext("The form was open too long or was sent from somewhere "
                                      "else. Reload the page and try again."), "csrf")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        title, message = _FRIENDLY.get(status, (exc.name, exc.description or ""))
        reason = (exc.name or "error").lower().replace(" ", "_")
        if status >= 500:
            current_app.logger.error("http_error status=%s path=%s", status, request.path)
        return error_response(status, title, message, reason)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        current_app.logger.exception("unexpected_error path=%s", request.path)
        title, message = _FRIENDLY[500]
        return error_response(500, title, message, "internal_error")
