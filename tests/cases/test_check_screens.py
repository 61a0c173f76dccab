"""The new case screens in a real Chromium at 320 px, inside the Moodle stand-in's iframe:
the learner's check page (with the record and a comment form), the case page with its clocks
and check forms, and the reporting queue. No sideways scroll, and axe-core finds no serious
or critical WCAG issue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from lti_tool.cases.models import AuthenticityCheck
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.roles import service as roles
from lti_tool.roles.models import ALS
from tests.cases.flows import Courses, incident_url, panel, record
from tests.learner.test_small_screens import WIDTHS, _serious
from tests.support.browser import FormBrowser
from tests.support.pages import platform_id, post_form
from tests.test_accessibility import tool_frame

pytestmark = pytest.mark.browser


def _case_with_a_recorded_discussion(app: Flask, moodle: Any, courses: Courses) -> str:
    with FormBrowser() as marker:
        url = incident_url(record(marker, panel(marker, moodle, "marker1", courses.cipd.id,
                                                "learner1"),
                                  extra={"planned_checks": ["professional discussion",
                                                            "questioning"]}))
        with app.app_context():
            first = db.session.scalar(sa.select(sa.func.min(AuthenticityCheck.id)))
        post_form(marker, marker.open(url), {
            f"check{first}-done_on": utcnow().date().isoformat(),
            f"check{first}-conducted_by": "Maria Marker", f"check{first}-outcome": "supports",
            f"check{first}-subject_knowledge": "Knew the models well.",
            f"check{first}-production": "Showed drafts and notes.",
            f"check{first}-notes": "Forty minutes."}, action=f"{url}/checks/{first}")
        post_form(marker, marker.open(url), {
            "plan-method": "questioning",
            "plan-planned_for": (utcnow().date() + timedelta(days=5)).isoformat(),
            "plan-location": "https://meet.example/a-rather-long-video-call-link-0123456789"},
            action=url + "/checks")
    return url


def _check(frame: Any, what: str) -> None:
    frame.locator("main").wait_for()
    wide = frame.evaluate(WIDTHS)
    assert wide[0] <= wide[1], f"{what} scrolls sideways: {wide}"
    assert _serious(frame) == [], what


def test_new_case_screens_at_320px(app: Flask, declared: Courses, moodle: Any,
                                   chromium: Any) -> None:
    url = _case_with_a_recorded_discussion(app, moodle, declared)
    with app.app_context():
        roles.grant(platform_id(app), ALS, actor="test", sub="6")
        db.session.commit()
        check_id = db.session.scalar(sa.select(sa.func.min(AuthenticityCheck.id)))
    base = app.config["BASE_URL"]
    path = url[url.index("/staff/"):]
    for who, target in (("learner1", f"/learner/checks/{check_id}"), ("marker1", path),
                        ("als1", "/reporting/")):
        context = chromium.new_context(viewport={"width": 320, "height": 800})
        page = context.new_page()
        page.goto(moodle.url(f"/mod/lti/view.php?id={declared.cipd.cmid}&as={who}"))
        frame = tool_frame(page, base)
        prefix = frame.url[:frame.url.index("/", frame.url.index("/l/") + 3)]
        frame.goto(prefix + target)
        _check(frame, f"{target} as {who}")
        context.close()
