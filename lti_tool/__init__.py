"""AIU: an LTI 1.3 tool that puts the Learner AI Usage Policy to work inside Moodle."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from lti_tool import log_redaction
from lti_tool.config import DefaultConfig
from lti_tool.extensions import csrf, db, migrate

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
PROJECT_DIR = os.path.dirname(PACKAGE_DIR)
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: defaults, then ``LTI_TOOL_*`` environment variables, then
    ``test_config``. Makes no network calls and writes nothing."""
    log_redaction.install()
    app = Flask(__name__, instance_relative_config=True,
                template_folder=os.path.join(PROJECT_DIR, "templates"),
                static_folder="static")
    load_config(app, test_config)
    register_extensions(app)
    app.jinja_env.filters["fromjson"] = json.loads
    app.jinja_env.filters["mask_emails"] = log_redaction.mask_emails
    register_blueprints(app)
    register_security(app)
    register_template_context(app)
    register_request_hooks(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def load_config(app: Flask, test_config: Mapping[str, Any] | None) -> None:
    app.config.from_object(DefaultConfig)
    app.config.from_prefixed_env("LTI_TOOL")
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("LTI_TOOL_SECRET_KEY is not set. Set it to a long random value "
                           "(see config/settings.env.example).")
    app.config["BASE_URL"] = str(app.config["BASE_URL"]).rstrip("/")
    app.config["ALLOW_INSECURE"] = bool(app.config["ALLOW_INSECURE"])
    base = urlsplit(app.config["BASE_URL"])
    if base.scheme != "https" and not app.config["ALLOW_INSECURE"]:
        raise RuntimeError("LTI_TOOL_BASE_URL must use https (set LTI_TOOL_ALLOW_INSECURE=1 "
                           "only for local testing).")
    # Moodle shows the tool in an iframe on another site: on https (and on localhost, which
    # browsers treat as secure) the cookies must be SameSite=None; Secure; Partitioned.
    # Plain http elsewhere only works when the tool and Moodle are on the same site.
    secure_context = base.scheme == "https" or base.hostname in LOOPBACK_HOSTS
    app.config.setdefault("SESSION_COOKIE_SECURE", secure_context)
    app.config["SESSION_COOKIE_SECURE"] = secure_context
    app.config["SESSION_COOKIE_SAMESITE"] = "None" if secure_context else "Lax"
    app.config["SESSION_COOKIE_PARTITIONED"] = secure_context
    evidence_dir = str(app.config.get("EVIDENCE_DIR") or "")
    if evidence_dir and _inside(evidence_dir, PROJECT_DIR):
        raise RuntimeError("LTI_TOOL_EVIDENCE_DIR must be outside the tool's checkout "
                           f"({PROJECT_DIR}): evidence files there could be served or committed.")
    anchor_file = str(app.config.get("AUDIT_ANCHOR_FILE") or "")
    if anchor_file and _inside(anchor_file, app.instance_path):
        raise RuntimeError("LTI_TOOL_AUDIT_ANCHOR_FILE must be outside the instance folder, "
                           "where the database is: whoever can replace one could replace both.")
    if app.config.get("PROXY_COUNT"):
        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count,  # type: ignore[method-assign]
                                x_host=count, x_port=count)


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder + os.sep)


def register_extensions(app: Flask) -> None:
    from lti_tool import i18n, instance_files
    from lti_tool.lti.json_store import init_app as init_json_store
    from lti_tool.lti.state import DatabaseStateStore, RedisStateStore
    from lti_tool.sessions import ServerSessionInterface

    instance_files.prepare(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(PACKAGE_DIR, "migrations"),
                     render_as_batch=True)
    csrf.init_app(app)
    i18n.init_app(app)
    init_json_store(app)
    redis_url = app.config.get("REDIS_URL")
    app.extensions["aiu_state_store"] = (
        RedisStateStore(redis_url) if redis_url else DatabaseStateStore()
    )
    app.session_interface = ServerSessionInterface(redis_url)
    # Import the models so that metadata (and migrations) know every table.
    from lti_tool.audit import models as _audit  # noqa: F401
    from lti_tool.cases import models as _cases  # noqa: F401
    from lti_tool.declarations import models as _declarations  # noqa: F401
    from lti_tool.lti import models as _lti  # noqa: F401
    from lti_tool.notifications import models as _notifications  # noqa: F401
    from lti_tool.outbox import handlers as _outbox_handlers  # noqa: F401
    from lti_tool.outbox import models as _outbox  # noqa: F401
    from lti_tool.people import models as _people  # noqa: F401
    from lti_tool.platforms import models as _platforms  # noqa: F401
    from lti_tool.policy import models as _policy  # noqa: F401
    from lti_tool.privacy import models as _privacy  # noqa: F401
    from lti_tool.requests import models as _requests  # noqa: F401
    from lti_tool.roles import models as _roles  # noqa: F401
    from lti_tool.submissions import models as _submissions  # noqa: F401


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # SQLite: enforce foreign keys, let readers run beside a writer, and wait for locks
    # instead of failing when two workers write at once.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()


def register_blueprints(app: Flask) -> None:
    from lti_tool.admin import privacy as _admin_privacy  # noqa: F401 - adds routes
    from lti_tool.admin.views import bp as admin_bp
    from lti_tool.appeals.views import bp as appeals_bp
    from lti_tool.learner import cases as _learner_cases  # noqa: F401 - adds routes
    from lti_tool.learner import checks as _learner_checks  # noqa: F401 - adds routes
    from lti_tool.learner import declaring as _learner_declaring  # noqa: F401 - adds routes
    from lti_tool.learner import incidents as _learner_incidents  # noqa: F401 - adds routes
    from lti_tool.learner.views import bp as learner_bp
    from lti_tool.lti.views import bp as lti_bp
    from lti_tool.policy.views import bp as policy_editor_bp
    from lti_tool.privacy.views import bp as privacy_bp
    from lti_tool.public.views import bp as public_bp
    from lti_tool.reporters.views import bp as reporting_bp
    from lti_tool.requests.als_views import bp as als_bp
    from lti_tool.requests.staff_views import bp as course_requests_bp
    from lti_tool.requests.views import bp as requests_bp
    from lti_tool.staff import checks as _staff_checks  # noqa: F401 - adds routes
    from lti_tool.staff import incidents as _staff_incidents  # noqa: F401 - adds routes
    from lti_tool.staff import reports as _staff_reports  # noqa: F401 - adds routes
    from lti_tool.staff.views import bp as staff_bp

    for bp in (public_bp, lti_bp, learner_bp, staff_bp, admin_bp, privacy_bp):
        app.register_blueprint(bp)
    for bp in (requests_bp, als_bp, course_requests_bp, appeals_bp, policy_editor_bp,
               reporting_bp):
        app.register_blueprint(bp)


def register_security(app: Flask) -> None:
    from lti_tool import rate_limits, security_headers

    security_headers.init_app(app)
    rate_limits.init_app(app)


def register_template_context(app: Flask) -> None:
    from lti_tool import navigation, screens
    from lti_tool.declarations.service import latest_by_placement
    from lti_tool.submissions.guard import new_key

    navigation.init_app(app)
    screens.init_app(app)
    app.add_template_global(new_key, "new_submission_key")
    app.add_template_global(latest_by_placement, "learner_declarations")


def register_request_hooks(app: Flask) -> None:
    from lti_tool.people import access

    access.init_app(app)

    @app.after_request
    def commit_or_roll_back(response: Response) -> Response:
        # One commit per request: services only flush. Refusals roll everything back.
        if response.status_code < 400:
            db.session.commit()
            if g.get("outbox_enqueued") and current_app.config["OUTBOX_DELIVER_AFTER_REQUEST"]:
                response.call_on_close(_deliver_after_response(current_app._get_current_object()))  # type: ignore[attr-defined]
        else:
            db.session.rollback()
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


def _deliver_after_response(app: Flask) -> Callable[[], None]:
    """Deliver what this request queued once the user has their page (the simple
    single-process setup); anything that fails stays queued for `flask worker`."""

    def deliver() -> None:
        from lti_tool.outbox.service import deliver_due

        with app.app_context():
            try:
                deliver_due()
            except Exception:  # noqa: BLE001 - the queue keeps the work; log and move on
                app.logger.exception("outbox_after_response_failed")

    return deliver


def register_errorhandlers(app: Flask) -> None:
    from lti_tool.errors import register_errorhandlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from lti_tool.cli import register_commands as register

    register(app)
