"""Dynamic Registration against the Moodle stand-in, over HTTP, as Moodle 4.5 runs it."""

from __future__ import annotations

from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.platforms import service as platforms
from lti_tool.platforms.models import Deployment, Platform, RegistrationInvite
from tests.conftest import row_counts


def _invite(app: Flask) -> str:
    with app.app_context():
        url, _ = platforms.mint_invite(app.config["BASE_URL"], "test", 3600)
        db.session.commit()
        return url


def _register(app: Flask, moodle: Any, url: str | None = None,
              update_client_id: str | None = None) -> requests.Response:
    opened = moodle.start_registration(url or _invite(app), update_client_id=update_client_id)
    return requests.get(opened, timeout=10)


def test_registration_stores_platform_and_deployment_and_closes_dialog(
        app: Flask, tool: Any, moodle: Any) -> None:
    resp = _register(app, moodle)
    assert resp.status_code == 200, resp.text
    assert "Activate" in resp.text
    assert "close-dialog.js" in resp.text
    with app.app_context():
        platform = db.session.scalar(sa.select(Platform))
        assert platform is not None
        assert platform.issuer == moodle.issuer
        assert platform.auth_login_url == moodle.issuer + "/mod/lti/auth.php"
        assert platform.auth_token_url == moodle.issuer + "/mod/lti/token.php"
        assert platform.key_set_url == moodle.issuer + "/mod/lti/certs.php"
        assert platform.registered_via == "dynamic"
        assert platform.product_family_code == "moodle"
        assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in platform.granted_scopes
        deployment = db.session.scalar(sa.select(Deployment))
        assert deployment is not None and deployment.platform_id == platform.id
        invite = db.session.scalar(sa.select(RegistrationInvite))
        assert invite is not None and invite.used_at is not None
    # What Moodle stored: the tool is pending with our URLs, scopes and claims.
    (tool_reg,) = moodle.tools.values()
    assert tool_reg.status == "pending"
    base = app.config["BASE_URL"]
    assert tool_reg.redirect_uris == [base + "/lti/launch"]
    assert tool_reg.initiate_login_uri == base + "/lti/login"
    assert tool_reg.jwks_uri == base + "/lti/jwks"


def test_registration_url_is_single_use(app: Flask, tool: Any, moodle: Any) -> None:
    url = _invite(app)
    assert _register(app, moodle, url).status_code == 200
    again = _register(app, moodle, url)
    assert again.status_code == 410
    assert "already been used" in again.text


def test_unknown_registration_url(app: Flask, tool: Any, moodle: Any) -> None:
    resp = _register(app, moodle, app.config["BASE_URL"] + "/lti/register/not-a-real-token")
    assert resp.status_code == 404
    assert "not valid" in resp.text


def test_registering_the_same_platform_again_updates_it(app: Flask, tool: Any,
                                                        moodle: Any) -> None:
    assert _register(app, moodle).status_code == 200
    (tool_reg,) = moodle.tools.values()
    assert _register(app, moodle, update_client_id=tool_reg.client_id).status_code == 200
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Platform)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Deployment)) == 1


def test_moodle_refusal_is_shown_and_nothing_is_written(app: Flask, tool: Any,
                                                        moodle: Any) -> None:
    url = _invite(app)
    opened = moodle.start_registration(url)
    # A registration token Moodle no longer accepts: Moodle answers in plain text.
    opened = opened.replace("registration_token=", "registration_token=x")
    before = row_counts(app)
    resp = requests.get(opened, timeout=10)
    assert resp.status_code == 400
    assert "Moodle refused the registration" in resp.text
    assert row_counts(app) == before
    # The invite was not spent: the admin can try again.
    assert _register(app, moodle, url).status_code == 200


def test_registration_without_moodle_parameters_explains_what_to_do(app: Flask, tool: Any,
                                                                    moodle: Any) -> None:
    resp = requests.get(_invite(app), timeout=10)
    assert resp.status_code == 400
    assert "Add LTI Advantage" in resp.text


def test_loopback_platform_refused_outside_insecure_mode(app: Flask, tool: Any,
                                                         moodle: Any) -> None:
    url = _invite(app)
    app.config["ALLOW_INSECURE"] = False
    before = row_counts(app)
    resp = requests.get(moodle.start_registration(url), timeout=10)
    assert resp.status_code == 400
    assert "will not contact" in resp.text
    assert row_counts(app) == before


def test_issuer_must_match_the_configuration_origin(app: Flask, tool: Any, moodle: Any) -> None:
    moodle.openid_configuration_overrides = {"issuer": "https://elsewhere.example"}
    resp = requests.get(moodle.start_registration(_invite(app)), timeout=10)
    assert resp.status_code == 400
    assert "another site" in resp.text
