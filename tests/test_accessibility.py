"""Every screen passes axe-core's WCAG 2.0/2.1/2.2 A and AA rules, checked in a real
Chromium with the tool inside the Moodle stand-in's iframe, as people use it."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from flask import Flask

from tests.support.browser import FormBrowser

pytestmark = pytest.mark.browser

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_violations(frame: Any) -> list[str]:
    frame.evaluate(AXE_SCRIPT)
    results = frame.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS)
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])}x: "
            f"{v['nodes'][0]['html'][:120]})" for v in results["violations"]]


def tool_frame(page: Any, base: str) -> Any:
    page.frame_locator("#contentframe").locator("main").wait_for(timeout=15_000)
    return next(f for f in page.frames if f.url.startswith(base))


@pytest.fixture
def placed(registered: Any, moodle: Any) -> Any:
    from tests.declarations.test_declarations import deep_link

    with FormBrowser() as teacher:
        return deep_link(teacher, moodle)


def test_learner_screens(app: Flask, placed: Any, moodle: Any, chromium: Any) -> None:
    base = app.config["BASE_URL"]
    page = chromium.new_context().new_page()
    page.goto(moodle.url(f"/mod/lti/view.php?id={placed.cmid}&as=learner1"))
    frame = tool_frame(page, base)
    assert axe_violations(frame) == [], "learner placement page"
    frame.get_by_role("link", name="Make your declaration").click()
    frame.wait_for_url("**/declare")
    assert axe_violations(frame) == [], "declaration form"
    with frame.expect_navigation():
        frame.get_by_role("button", name="Submit my declaration").click()
    assert "There is a problem" in frame.content()
    assert axe_violations(frame) == [], "declaration form with errors"
    frame.get_by_label("No", exact=True).check()
    for label in ("company or personal data", "once I start the assignment",
                  "will be my own"):
        frame.get_by_label(label, exact=False).check()
    frame.get_by_label("Type your full name to sign").fill("Lena Learner")
    frame.get_by_role("button", name="Submit my declaration").click()
    frame.wait_for_url("**/declarations/*")
    assert "Your declaration is recorded" in frame.content()
    assert axe_violations(frame) == [], "receipt"


# The staff, ALS and admin screens: tests/test_screens_in_chromium.py (at 390 and 1280 px).


def test_error_page(app: Flask, tool: Any, chromium: Any) -> None:
    page = chromium.new_context().new_page()
    page.goto(app.config["BASE_URL"] + "/learner/placements/1")
    assert "Please open the tool from Moodle" in page.content()
    assert axe_violations(page.main_frame) == []
