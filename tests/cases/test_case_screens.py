"""The new case screens in a real Chromium inside the Moodle stand-in's iframe: axe-core finds
no WCAG 2.2 AA issue on the learner's cases page, the appeal form and the reviewer's appeal
page, and the learner's cases page does not scroll sideways on a 320 px phone."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from lti_tool.extensions import db
from lti_tool.roles import service as roles
from lti_tool.roles.models import APPEAL_REVIEWER
from tests.cases.flows import Courses, decide, incident_url, panel, record
from tests.support.browser import FormBrowser
from tests.support.pages import platform_id
from tests.test_accessibility import axe_violations, tool_frame

pytestmark = pytest.mark.browser

NO_SIDEWAYS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def test_case_screens_are_accessible_and_fit_a_phone(app: Flask, declared: Courses,
                                                     moodle: Any, chromium: Any) -> None:
    with FormBrowser() as marker1:
        url = incident_url(record(marker1, panel(marker1, moodle, "marker1",
                                                 declared.cipd.id, "learner1")))
        decide(marker1, url, without_answer="y",
               reasons="Section 2 cites a report that does not exist.")
    with app.app_context():
        roles.grant(platform_id(app), APPEAL_REVIEWER, actor="test", sub="6")
        db.session.commit()
    base = app.config["BASE_URL"]
    phone = chromium.new_context(viewport={"width": 320, "height": 640}).new_page()
    phone.goto(moodle.url(f"/mod/lti/view.php?id={declared.cipd.cmid}&as=learner1"))
    frame = tool_frame(phone, base)
    frame.get_by_role("link", name="My AI-use cases").first.click()
    frame.wait_for_url("**/learner/cases")
    assert "does not exist" in frame.content()
    assert frame.evaluate(NO_SIDEWAYS), "the cases page scrolls sideways at 320 px"
    assert axe_violations(frame) == [], "My AI-use cases"
    frame.get_by_role("link", name="Appeal this decision").click()
    frame.wait_for_url("**/appeal")
    assert frame.evaluate(NO_SIDEWAYS), "the appeal form scrolls sideways at 320 px"
    assert axe_violations(frame) == [], "appeal form"
    frame.get_by_label("There is new evidence").check()
    frame.get_by_label("Why you are appealing").fill("My drafts show the work is mine.")
    frame.get_by_role("button", name="Send my appeal").click()
    frame.wait_for_url("**/learner/cases")
    assert "Being reviewed" in frame.content()

    reviewer = chromium.new_context().new_page()
    reviewer.goto(moodle.url(f"/mod/lti/view.php?id={declared.cipd.cmid}&as=als1"))
    frame = tool_frame(reviewer, base)
    frame.get_by_role("link", name="Appeals").first.click()
    frame.wait_for_selector("h1:has-text('Appeals')")
    assert axe_violations(frame) == [], "appeals queue"
    frame.get_by_role("link", name="Open the appeal").first.click()
    frame.wait_for_selector("h2:has-text(\"The learner's appeal\")")
    assert "My drafts show the work is mine." in frame.content()
    assert axe_violations(frame) == [], "appeal page"
    frame.get_by_label("Uphold the appeal").check()
    frame.get_by_label("Replace it with: not upheld").check()
    frame.get_by_label("Your reasons").fill("The evidence was too thin.")
    frame.get_by_role("button", name="Check the decision").click()
    frame.wait_for_selector("text=Uphold this appeal?")
    assert axe_violations(frame) == [], "appeal confirmation"
