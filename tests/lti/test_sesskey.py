"""Moodle's sesskey (in the launch's ``return_url`` and ``deep_link_return_url``) is never
stored in clear in the tool's sessions; deep linking still returns to Moodle with it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.declarations.models import PlacementSettings
from lti_tool.extensions import db
from lti_tool.lti.models import WebSession
from lti_tool.lti.sesskey import (
    deep_link_return_url,
    seal_deep_linking,
    split_sesskey,
    strip_sesskey,
)
from lti_tool.submissions.models import FormSubmission
from tests.declarations.test_declarations import deep_link
from tests.support.browser import FormBrowser, launch
from tests.support.pages import post_form


def test_strip_sesskey_removes_every_sesskey_parameter_only() -> None:
    url = "https://moodle.example/mod/lti/return.php?course=2&sesskey=AbC123&SessKey=x&id=4"
    assert strip_sesskey(url) == "https://moodle.example/mod/lti/return.php?course=2&id=4"
    assert strip_sesskey("https://m.example/x?course=2") == "https://m.example/x?course=2"
    assert strip_sesskey(None) is None
    assert split_sesskey("https://m.example/?sesskey=k1")[1] == "k1"


def test_the_deep_link_return_url_gets_its_sesskey_back_only_with_the_secret() -> None:
    settings = {"deep_link_return_url": "https://m.example/c.php?course=2&sesskey=S3cr3tKey",
                "title": "AIU"}
    kept = seal_deep_linking(settings, "secret-one")
    assert "S3cr3tKey" not in repr(kept)
    assert kept["deep_link_return_url"] == "https://m.example/c.php?course=2"
    assert deep_link_return_url(kept, "secret-one").endswith("course=2&sesskey=S3cr3tKey")
    assert "sesskey" not in deep_link_return_url(kept, "another-secret")


def _stored_sessions(app: Flask) -> str:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(WebSession.data)))
        db.session.remove()
    assert rows
    return "\n".join(rows)


def test_no_sesskey_in_stored_sessions_and_deep_linking_still_returns(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser) -> None:
    deep_link(browser, moodle)  # Moodle accepts the response only with the sesskey
    marker_key = moodle.sesskey(moodle.user("marker1").id)
    stored = _stored_sessions(app)
    assert "deep_link_return_url" in stored and marker_key not in stored
    with FormBrowser() as learner:
        page = launch(learner, moodle, "learner1", min(moodle.activities))
        assert page.status_code == 200, page.text
    stored = _stored_sessions(app)
    assert "return.php" in stored
    assert moodle.sesskey(moodle.user("learner1").id) not in stored
    assert "sesskey=" not in stored and "sesskey%3D" not in stored


def test_a_resent_deep_link_form_makes_one_settings_record_and_keeps_no_sesskey(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser) -> None:
    form = launch(browser, moodle, "marker1", message_type="LtiDeepLinkingRequest",
                  course_id=2)
    fields = {"title": "Unit 1 declaration", "assignment_name": "Unit 1 assignment",
              "qualification": "CIPD", "permitted_uses": ["reading", "planning"],
              "guidance": ""}
    first = post_form(browser, form, fields)
    again = post_form(browser, form, fields)  # the same page sent twice
    assert first.status_code == again.status_code == 200
    assert moodle.deep_link_results[-1].ok
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count())
                                 .select_from(PlacementSettings)) == 1
        kept = list(db.session.execute(sa.select(FormSubmission.location,
                                                 FormSubmission.body)))
        db.session.remove()
    assert kept and all("sesskey" not in f"{location}{body}" for location, body in kept)
