"""The baseline of the side-by-side launch benchmark: a bare pylti1p3 + Flask tool, written the
way pylti1p3's Flask adapter documentation shows it (``pylti1p3.contrib.flask``), with no
database.

Three requests, like AIU's launch: ``/lti/login`` (OIDC login initiation → redirect to the
platform's auth URL), ``/lti/launch`` (validates the id_token: state, nonce, registration,
RS256 signature, deployment, message claims; saves the launch in the cache; 303 to the
landing page) and ``/landing`` (restores the launch from the cache with
``FlaskMessageLaunch.from_cache`` and renders a Jinja template with the learner's name and
the activity title).

State, nonces and launches live in a Flask-Caching cache shared by the gunicorn workers
(``FileSystemCache`` like AIU's default, or Redis); the platform's JWKS is cached in the same
storage (``set_public_key_caching``) so steady-state launches make no network call.

Serve it with ``gunicorn 'bench.bare_pylti_app:create_app()'``; configuration comes from the
environment:

* ``BARE_LTI_ISSUER``, ``BARE_LTI_CLIENT_ID``, ``BARE_LTI_DEPLOYMENT_ID`` (required): the
  platform registration. ``BARE_LTI_AUTH_LOGIN_URL``, ``BARE_LTI_AUTH_TOKEN_URL`` and
  ``BARE_LTI_KEY_SET_URL`` default to Moodle's ``/mod/lti/auth.php``, ``token.php`` and
  ``certs.php`` under the issuer.
* ``BARE_LTI_PRIVATE_KEY_FILE`` (required): the tool's RSA private key (PEM).
* ``BARE_LTI_CACHE_DIR`` (FileSystemCache directory) or ``BARE_LTI_REDIS_URL`` (RedisCache);
  ``BARE_LTI_CACHE_THRESHOLD`` (default 0: the file cache never counts or prunes files).
* ``BARE_LTI_SECRET_KEY``: Flask's secret key (random when unset; the app keeps nothing in
  Flask's session).
* ``BARE_LTI_SECURE_COOKIES`` (default 1): treat requests as secure, as behind a TLS proxy,
  so pylti1p3 sets its cookies ``SameSite=None; Secure; Partitioned`` (what Moodle's iframe
  needs; browsers accept Secure cookies on http://localhost). With 0, pylti1p3 sets plain
  cookies, which a browser drops inside a cross-site iframe.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, abort, redirect, render_template, request
from flask_caching import Cache
from pylti1p3.contrib.flask import (
    FlaskCacheDataStorage,
    FlaskMessageLaunch,
    FlaskOIDCLogin,
    FlaskRequest,
)
from pylti1p3.exception import LtiException
from pylti1p3.tool_config import ToolConfDict
from werkzeug.wrappers import Response as BaseResponse

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
JWKS_CACHE_SECONDS = 24 * 3600


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise RuntimeError(f"{name} is not set (see bench/bare_pylti_app.py)")
    return value


def tool_conf_from_env() -> ToolConfDict:
    """One platform registration (issuer, client id, deployment id) and the tool's key."""
    issuer = _env("BARE_LTI_ISSUER").rstrip("/")
    client_id = _env("BARE_LTI_CLIENT_ID")
    conf = ToolConfDict({
        issuer: [{
            "default": True,
            "client_id": client_id,
            "auth_login_url": _env("BARE_LTI_AUTH_LOGIN_URL", issuer + "/mod/lti/auth.php"),
            "auth_token_url": _env("BARE_LTI_AUTH_TOKEN_URL", issuer + "/mod/lti/token.php"),
            "auth_audience": None,
            "key_set_url": _env("BARE_LTI_KEY_SET_URL", issuer + "/mod/lti/certs.php"),
            "key_set": None,
            "deployment_ids": [_env("BARE_LTI_DEPLOYMENT_ID")],
        }],
    })
    private_key = Path(_env("BARE_LTI_PRIVATE_KEY_FILE")).read_text()
    conf.set_private_key(issuer, private_key, client_id=client_id)
    return conf


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The bare tool (see the module docstring); ``test_config`` overrides the Flask config."""
    app = Flask(__name__, template_folder=str(Path(__file__).resolve().parent / "templates"))
    redis_url = os.environ.get("BARE_LTI_REDIS_URL")
    app.config.update(
        SECRET_KEY=os.environ.get("BARE_LTI_SECRET_KEY") or secrets.token_hex(16),
        CACHE_DEFAULT_TIMEOUT=600,
        # 0: no file counting or pruning (cachelib rescans every file on each write once
        # over its threshold, which would make the baseline needlessly slow).
        CACHE_THRESHOLD=int(os.environ.get("BARE_LTI_CACHE_THRESHOLD", "0")),
        **({"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": redis_url} if redis_url else
           {"CACHE_TYPE": "FileSystemCache",
            "CACHE_DIR": _env("BARE_LTI_CACHE_DIR", "/tmp/bare-pylti-cache")}),
    )
    if test_config:
        app.config.update(test_config)
    secure = os.environ.get("BARE_LTI_SECURE_COOKIES", "1") != "0"
    cache = Cache(app)
    tool_conf = tool_conf_from_env()

    def lti_request() -> FlaskRequest:
        return FlaskRequest(request_is_secure=secure or request.is_secure)

    def launch_data_storage() -> FlaskCacheDataStorage:
        return FlaskCacheDataStorage(cache)

    @app.route("/lti/login", methods=["GET", "POST"])
    def login() -> Any:
        flask_request = lti_request()
        target_link_uri = flask_request.get_param("target_link_uri")
        if not target_link_uri:
            abort(400, 'Missing "target_link_uri" param')
        oidc_login = FlaskOIDCLogin(flask_request, tool_conf,
                                    launch_data_storage=launch_data_storage())
        return oidc_login.redirect(target_link_uri)

    @app.route("/lti/launch", methods=["POST"])
    def launch() -> BaseResponse:
        storage = launch_data_storage()
        message_launch = FlaskMessageLaunch(lti_request(), tool_conf,
                                            launch_data_storage=storage)
        message_launch.set_public_key_caching(storage, cache_lifetime=JWKS_CACHE_SECONDS)
        message_launch.get_launch_data()  # validates the id_token and caches the launch
        return redirect(f"/landing?launch_id={message_launch.get_launch_id()}", code=303)

    @app.get("/landing")
    def landing() -> str:
        message_launch = FlaskMessageLaunch.from_cache(
            request.args.get("launch_id", ""), lti_request(), tool_conf,
            launch_data_storage=launch_data_storage())
        data: dict[str, Any] = dict(message_launch.get_launch_data())
        link: dict[str, Any] = data.get(CLAIM + "resource_link") or {}
        context: dict[str, Any] = data.get(CLAIM + "context") or {}
        return render_template(
            "bare_landing.html",
            learner_name=data.get("name") or data.get("given_name") or data.get("sub"),
            activity_title=link.get("title", ""), course_title=context.get("title", ""))

    @app.get("/lti/jwks")
    def jwks() -> Any:
        return tool_conf.get_jwks()

    @app.errorhandler(LtiException)
    def lti_failed(error: LtiException) -> tuple[str, int]:
        return f"LTI launch failed: {error}", 400

    return app
