"""``flask roles ...``: grant and revoke by Moodle user id or email, before or after a first
launch; list with history; every change audited, nothing deleted."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from lti_tool.audit import service as audit
from lti_tool.audit.models import AuditEvent
from lti_tool.extensions import db
from lti_tool.roles.models import RoleGrant, RoleRevocation
from tests.support.browser import FormBrowser, launch
from tests.support.pages import platform_id, text


def _run(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=["roles", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _fails(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=["roles", *args])
    assert result.exit_code != 0, result.output
    return result.output


def test_grant_list_resolve_and_revoke(app: Flask, runner: FlaskCliRunner, registered: Any,
                                       moodle: Any, browser: FormBrowser) -> None:
    pid = str(platform_id(app))
    launch(browser, moodle, "als1")  # already known to the tool
    assert "Granted: Alex Support is an ALS team member" in _run(
        runner, "grant-als", "--platform", pid, "--user-id", "6")
    assert "already is" in _run(runner, "grant-als", "--platform", pid, "--user-id", "6")
    # learner3 has never launched: the grant waits for them (platform named by client id).
    out = _run(runner, "grant-als", "--platform", registered.client_id,
               "--email", "Learner3@Example.test")
    assert "learner3@example.test becomes an ALS team member" in out
    assert "once you confirm who launched with that address" in out
    listing = _run(runner, "list")
    assert "Alex Support (Moodle user 6)" in listing
    assert "learner3@example.test" in listing
    assert "[waiting for someone to launch with this address]" in listing

    with FormBrowser() as learner3:
        landing = launch(learner3, moodle, "learner3", course_id=3)
        assert "Review queue" not in text(landing)  # an email match alone proves nothing
        listing = _run(runner, "list")
        grant = re.search(r"waiting for confirmation of grant (\d+): launched as Lucy Lane "
                          r"\(Moodle user 7\)", listing)
        assert grant, listing
        assert "No one with Moodle user id 99" in _fails(runner, "confirm", grant.group(1),
                                                         "--user-id", "99")
        assert "Confirmed: Lucy Lane is an ALS team member" in _run(
            runner, "confirm", grant.group(1), "--user-id", "7")
        landing = learner3.open(landing.url)
        assert "Review queue" in text(landing)
        assert learner3.open(app.config["BASE_URL"] + "/als/").status_code == 200
    assert "[waiting" not in _run(runner, "list", "--platform", pid)
    assert "Lucy Lane (learner3@example.test)" in _run(runner, "list")

    # Revoke by issuer and a differently-cased email; the grant and its history stay.
    out = _run(runner, "revoke-als", "--platform", moodle.issuer, "--email",
               "LEARNER3@example.test")
    assert "Revoked: Lucy Lane is no longer an ALS team member" in out
    assert "Lucy Lane" not in _run(runner, "list")
    history = _run(runner, "list", "--history")
    assert "Lucy Lane" in history and "REVOKED" in history
    assert "No one matching" in _fails(runner, "revoke-als", "--platform", pid,
                                       "--email", "learner3@example.test")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RoleGrant)) == 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RoleRevocation)) == 1
        actions = [a for a in db.session.scalars(sa.select(AuditEvent.action)
                                                 .order_by(AuditEvent.seq))
                   if a.startswith("role.")]
        assert actions == ["role.granted", "role.granted", "role.grant_confirmed",
                           "role.revoked"]
        assert audit.verify().ok
    # Granting again after a revocation makes a new grant.
    _run(runner, "grant-als", "--platform", pid, "--email", "learner3@example.test")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RoleGrant)) == 3


def test_grant_admin_opens_the_admin_pages(app: Flask, runner: FlaskCliRunner,
                                           registered: Any, moodle: Any,
                                           browser: FormBrowser) -> None:
    pid = str(platform_id(app))
    base = app.config["BASE_URL"]
    launch(browser, moodle, "marker1")
    assert browser.open(base + "/admin/").status_code == 403
    _run(runner, "grant-admin", "--platform", pid, "--user-id", "5")
    page = browser.open(base + "/admin/")
    assert page.status_code == 200 and "Tool administration" in text(page)
    assert browser.open(base + "/admin/roles").status_code == 200
    _run(runner, "revoke-admin", "--platform", pid, "--user-id", "5")
    assert browser.open(base + "/admin/").status_code == 403


def test_refuses_unclear_input(app: Flask, runner: FlaskCliRunner) -> None:
    assert "No platform matches" in _fails(runner, "grant-als", "--platform", "nope",
                                           "--user-id", "6")
    result = runner.invoke(args=["platforms", "add", "--issuer", "https://m.example.ac.uk",
                                 "--client-id", "a", "--deployment-id", "1",
                                 "--auth-login-url", "https://m.example.ac.uk/a",
                                 "--auth-token-url", "https://m.example.ac.uk/t",
                                 "--key-set-url", "https://m.example.ac.uk/k"])
    assert result.exit_code == 0, result.output
    runner.invoke(args=["platforms", "add", "--issuer", "https://m.example.ac.uk",
                        "--client-id", "b", "--deployment-id", "1",
                        "--auth-login-url", "https://m.example.ac.uk/a",
                        "--auth-token-url", "https://m.example.ac.uk/t",
                        "--key-set-url", "https://m.example.ac.uk/k"])
    assert "matches 2 registrations" in _fails(runner, "grant-als", "--platform",
                                               "https://m.example.ac.uk", "--user-id", "6")
    assert "one of the two" in _fails(runner, "grant-als", "--platform", "a")
    assert "one of the two" in _fails(runner, "grant-als", "--platform", "a", "--user-id", "6",
                                      "--email", "x@example.test")
    for bad in ("nobody", "a@example.test, b@example.test", "a@example.test\r\nBcc: b@x.test",
                "Alex <a@example.test>", "a@@example.test"):
        assert "not one valid email address" in _fails(runner, "grant-als", "--platform", "a",
                                                       "--email", bad), bad
    assert "No roles granted." in _run(runner, "list")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RoleGrant)) == 0
