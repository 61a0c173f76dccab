"""Tool administrators give and take the ALS role on the admin page; ALS members get a
"Review queue" link on every page of any launch."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.audit.models import AuditEvent
from lti_tool.extensions import db
from lti_tool.roles.models import RoleGrant
from tests.conftest import row_counts
from tests.support.browser import FormBrowser, launch
from tests.support.pages import confirm, confirmation_fields, fill, text


def test_admin_grants_and_revokes_the_als_role(app: Flask, registered: Any, moodle: Any,
                                               browser: FormBrowser,
                                               ) -> None:
    base = app.config["BASE_URL"]
    landing = launch(browser, moodle, "admin")  # a Moodle site administrator
    assert "Tool administration" in text(landing)
    admin = browser.open(base + "/admin/")
    assert "ALS team and tool administrators" in text(admin)
    page = browser.open(base + "/admin/roles")
    assert "No one has been given a role yet" in text(page)

    before = row_counts(app)
    for values, message in (({"role": "als", "who": " "},
                             "Enter the person's Moodle user ID or email address."),
                            ({"who": "learner3@example.test"}, "Choose the role to give."),
                            ({"role": "owner", "who": "7"}, "Choose the role to give.")):
        refused = fill(browser, page, "/admin/roles", values, follow=False)
        assert refused.status_code == 400
        assert text(refused).count(message) == 2
    assert row_counts(app) == before

    done = fill(browser, page, "/admin/roles", {"role": "als", "who": "learner3@example.test"})
    assert "once you confirm who it is" in text(done)
    assert "No one has opened the tool with this address yet" in text(done)

    with FormBrowser() as learner3:
        landing3 = launch(learner3, moodle, "learner3", course_id=3)
        assert "Review queue" not in text(landing3)  # not before an admin confirms
        page = browser.open(base + "/admin/roles")
        assert ("learner3@example.test first opened the tool as Lucy Lane (Moodle user 7)"
                in text(page))
        page = fill(browser, page, "/confirm", {})
        assert "Lucy Lane is now an ALS team member" in text(page)
        landing3 = learner3.open(landing3.url)
        assert "Review queue" in text(landing3)  # on a learner's launch too
        assert learner3.open(base + "/als/").status_code == 200
        grant_id = re.search(r"/admin/roles/(\d+)/revoke", page.text)
        assert grant_id
        # Confirm, then act: the first POST only asks (nothing written), saying what
        # revoking does (Lucy is the only ALS member).
        before = row_counts(app)
        asked = fill(browser, page, f"/admin/roles/{grant_id.group(1)}/revoke", {})
        assert "Stop Lucy Lane being an ALS team member?" in text(asked)
        assert "No one else is in the ALS team" in text(asked)
        assert {t: n for t, n in row_counts(app).items() if t != "web_session"} == {
            t: n for t, n in before.items() if t != "web_session"}
        assert learner3.open(base + "/als/").status_code == 200
        revoked = confirm(browser, asked)
        assert "Lucy Lane is no longer an ALS team member" in text(revoked)
        assert "Earlier roles" in text(revoked)
        assert "Review queue" not in text(learner3.open(landing3.url))
        assert learner3.open(base + "/als/").status_code == 403

        # Undo, for a short time: a new grant with the same scope, audited as an undo.
        undone = fill(browser, revoked, f"/admin/roles/{grant_id.group(1)}/undo", {})
        assert "Undone: Lucy Lane is an ALS team member again." in text(undone)
        assert "Review queue" in text(learner3.open(landing3.url))
        with app.app_context():
            grants = db.session.scalars(sa.select(RoleGrant).order_by(RoleGrant.id)).all()
            assert [g.revoked_at is None for g in grants][-2:] == [False, True]
            assert (grants[-1].person_id, grants[-1].role) == (grants[-2].person_id, "als")
            event = db.session.scalars(sa.select(AuditEvent).where(
                AuditEvent.action == "role.revocation_undone")).one()
            assert event.object_id == str(grants[-1].id)
        # The undo works once: the revoked grant is no longer offered.
        assert f"/admin/roles/{grant_id.group(1)}/undo" not in undone.text


def test_revoking_needs_its_confirmation(app: Flask, registered: Any, moodle: Any,
                                         browser: FormBrowser, runner: Any) -> None:
    from tests.support.pages import platform_id

    assert runner.invoke(args=["roles", "grant-als", "--platform", str(platform_id(app)),
                               "--user-id", "6"]).exit_code == 0
    launch(browser, moodle, "admin")
    page = browser.open(app.config["BASE_URL"] + "/admin/roles")
    grant_id = re.search(r"/admin/roles/(\d+)/revoke", page.text)
    assert grant_id
    asked = fill(browser, page, f"/admin/roles/{grant_id.group(1)}/revoke", {})
    action, fields = confirmation_fields(asked)
    before = row_counts(app)
    forged = [(n, "forged" if n == "confirmation" else v) for n, v in fields]
    refused = browser.request("POST", action, data=forged, initiator=asked.url)  # type: ignore[arg-type]
    assert refused.status_code == 400 and "nothing was done" in text(refused)
    assert row_counts(app) == before
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RoleGrant).where(
            RoleGrant.revoked_at.is_(None))) == 1


def test_the_review_queue_link_shows_for_als_members_only(app: Flask, registered: Any,
                                                          moodle: Any, runner: Any) -> None:
    from tests.support.pages import platform_id

    result = runner.invoke(args=["roles", "grant-als", "--platform", str(platform_id(app)),
                                 "--user-id", "6"])
    assert result.exit_code == 0, result.output
    for who, course, shown in (("als1", 2, True), ("als1", 3, True), ("marker1", 2, False),
                               ("learner1", 2, False), ("admin", 2, False)):
        with FormBrowser() as b:
            landing = launch(b, moodle, who, course_id=course)
            assert landing.status_code == 200
            assert ("Review queue" in text(landing)) is shown, (who, course)
