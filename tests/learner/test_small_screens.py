"""Learner pages on phones, in a real Chromium inside the stand-in's iframe: nothing
scrolls sideways at 320 and 390 px (WCAG 1.4.10), the frame shrinks as well as grows
(lti.frameResize), and axe-core finds no serious or critical WCAG 2.2 AA issue on the
pages issue 11 added or changed."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from lti_tool.declarations.models import Declaration
from lti_tool.extensions import db
from lti_tool.people.models import Person, Placement
from tests.declarations.test_declarations import GOOD, _authorise, declare, deep_link
from tests.support.browser import FormBrowser
from tests.test_accessibility import WCAG_TAGS, tool_frame

pytestmark = pytest.mark.browser


@pytest.fixture
def learner_pages(app: Flask, registered: Any, moodle: Any) -> tuple[Any, list[str]]:
    """An activity where learner1 has an ALS authorisation, a declaration and a request;
    the paths of every learner page."""
    from lti_tool.requests import service as requests_service

    with FormBrowser() as teacher:
        activity = deep_link(teacher, moodle)
    with FormBrowser() as learner:
        declare(learner, moodle, activity.id)
        _authorise(app, "3", "Grammarly with a deliberately long name for narrow screens",
                   purpose="basic spelling and grammar correction",
                   conditions="Spelling suggestions only; https://example.test/a/very/long/"
                              "address/that/must/wrap/on/a/small/screen")
        declare(learner, moodle, activity.id, fields=GOOD)
    with app.app_context():
        declaration_id = db.session.scalar(sa.select(sa.func.max(Declaration.id)))
        placement_id = db.session.scalar(sa.select(Placement.id).order_by(Placement.id.desc()))
        learner = db.session.scalar(sa.select(Person).where(Person.sub == "3"))
        placement = db.session.get(Placement, placement_id)
        assert learner is not None and placement is not None
        req = requests_service.create_request(learner, placement, requests_service.NewRequest(
            tool_name="Otter", purpose="Transcribing my own notes", reason="accessibility",
            scope="course"))
        db.session.commit()
        request_id = req.id
    base = f"/learner/placements/{placement_id}"
    return activity, [base, f"{base}/policy", f"{base}/declare", f"{base}/check",
                      f"{base}/authenticate",
                      f"/learner/declarations/{declaration_id}", "/requests/",
                      "/requests/new", f"/requests/{request_id}"]


# The page's scroll and client widths, and what sticks out (to say what to fix).
WIDTHS = """() => {
  const root = document.documentElement, limit = root.clientWidth;
  const out = [...document.querySelectorAll("body *")]
    .filter(e => e.getBoundingClientRect().right > limit + 0.5 || e.scrollWidth > limit)
    .slice(-4).map(e => e.tagName + "." + e.className + " " + e.getBoundingClientRect().right
                        + "/" + e.scrollWidth + ": " + e.textContent.slice(0, 40));
  return [root.scrollWidth, limit, out];
}"""


def _serious(frame: Any) -> list[str]:
    from axe_playwright_python.base import AXE_SCRIPT

    frame.evaluate(AXE_SCRIPT)
    results = frame.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS)
    return [f"{v['id']}: {v['help']} ({v['nodes'][0]['html'][:100]})"
            for v in results["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("width", [320, 390])
def test_no_learner_page_scrolls_sideways(app: Flask, learner_pages: Any, moodle: Any,
                                          chromium: Any, width: int) -> None:
    activity, paths = learner_pages
    base = app.config["BASE_URL"]
    context = chromium.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto(moodle.url(f"/mod/lti/view.php?id={activity.cmid}&as=learner1"))
    frame = tool_frame(page, base)
    for path in paths:
        frame.goto(base + path)
        frame.locator("main").wait_for()
        wide = frame.evaluate(WIDTHS)
        assert wide[0] <= wide[1], f"{path} scrolls sideways at {width}px: {wide}"
        if width == 320:
            assert _serious(frame) == [], path
    # The pages with their errors: the comprehension check answered wrongly, an empty
    # authentication.
    for path, button in (("/check", "Check my answers"),
                         ("/authenticate", "Make this declaration")):
        frame.goto(base + paths[0] + path)
        with frame.expect_navigation():
            frame.get_by_role("button", name=button).click()
        assert "Not quite" in frame.content() or "There is a problem" in frame.content()
        wide = frame.evaluate(WIDTHS)
        assert wide[0] <= wide[1], f"{path} with errors scrolls sideways: {wide}"
        assert _serious(frame) == [], f"{path} with errors"
    context.close()


def test_the_frame_shrinks_as_well_as_grows(app: Flask, learner_pages: Any, moodle: Any,
                                            chromium: Any) -> None:
    activity, _ = learner_pages
    context = chromium.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.add_init_script("window.__heights = []; window.addEventListener('message', e => {"
                         " if (e.data && e.data.subject === 'lti.frameResize')"
                         " window.__heights.push(e.data.height); });")
    page.goto(moodle.url(f"/mod/lti/view.php?id={activity.cmid}&as=learner1"))
    frame = tool_frame(page, app.config["BASE_URL"])
    page.wait_for_function("window.__heights.length > 0")
    closed = page.evaluate("window.__heights[window.__heights.length - 1]")
    frame.locator("summary").first.click()
    page.wait_for_function(f"window.__heights[window.__heights.length - 1] > {closed}")
    frame.locator("summary").first.click()
    page.wait_for_function(f"window.__heights[window.__heights.length - 1] <= {closed}")
    context.close()
