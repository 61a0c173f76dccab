from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from lti_tool.extensions import db
from lti_tool.platforms.models import Deployment, Platform, RegistrationInvite

MOODLE = "https://moodle.example.ac.uk"


def _add(runner: FlaskCliRunner, client_id: str = "abc123", deployment: str = "7") -> str:
    result = runner.invoke(args=[
        "platforms", "add", "--issuer", MOODLE, "--client-id", client_id,
        "--deployment-id", deployment, "--auth-login-url", MOODLE + "/mod/lti/auth.php",
        "--auth-token-url", MOODLE + "/mod/lti/token.php",
        "--key-set-url", MOODLE + "/mod/lti/certs.php", "--name", "College Moodle",
    ])
    assert result.exit_code == 0, result.output
    return result.output


def test_add_list_and_update_without_duplicates(app: Flask, runner: FlaskCliRunner) -> None:
    _add(runner)
    _add(runner, deployment="8")  # same registration again: updated, second deployment added
    _add(runner, client_id="other")  # a second registration on the same site
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Platform)) == 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Deployment)) == 3
    listing = runner.invoke(args=["platforms", "list"]).output
    assert "client=abc123" in listing and "deployments: 7, 8" in listing
    assert "client=other" in listing


def test_deactivate_by_client_id_and_one_deployment(app: Flask, runner: FlaskCliRunner) -> None:
    _add(runner)
    result = runner.invoke(args=["platforms", "deactivate", "abc123", "--deployment-id", "7"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["platforms", "deactivate", "abc123"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        platform = db.session.scalar(sa.select(Platform))
        assert platform is not None and not platform.active
        assert not platform.deployments[0].active
    missing = runner.invoke(args=["platforms", "deactivate", "nope"])
    assert missing.exit_code != 0 and "No platform matches" in missing.output


def test_add_refuses_plain_http_without_insecure_mode(app: Flask, runner: FlaskCliRunner) -> None:
    app.config["ALLOW_INSECURE"] = False
    result = runner.invoke(args=[
        "platforms", "add", "--issuer", "http://moodle.example.ac.uk", "--client-id", "x",
        "--deployment-id", "1", "--auth-login-url", "http://moodle.example.ac.uk/a",
        "--auth-token-url", "http://moodle.example.ac.uk/t",
        "--key-set-url", "http://moodle.example.ac.uk/k",
    ])
    assert result.exit_code != 0
    assert "does not use https" in result.output


def test_registration_url_is_the_last_line_and_single_use(app: Flask,
                                                          runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["platforms", "registration-url"])
    assert result.exit_code == 0, result.output
    url = result.output.strip().splitlines()[-1]
    assert url.startswith(app.config["BASE_URL"] + "/lti/register/")
    token = url.rsplit("/", 1)[1]
    with app.app_context():
        invite = db.session.scalar(sa.select(RegistrationInvite))
        assert invite is not None and token not in invite.token_hash


def test_keys_commands(app: Flask, runner: FlaskCliRunner) -> None:
    listed = runner.invoke(args=["keys", "list"]).output
    assert "current" in listed
    assert "already exists" in runner.invoke(args=["keys", "generate"]).output
    rotated = runner.invoke(args=["keys", "rotate"])
    assert rotated.exit_code == 0 and "New current key" in rotated.output
    listed = runner.invoke(args=["keys", "list"]).output
    assert "current" in listed and "retiring" in listed
