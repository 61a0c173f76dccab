"""A real Chromium (Debian's, driven by Playwright) completes a learner launch inside the
demo platform's iframe, served from another site than the tool: proof that the cookies work
where Moodle puts the tool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

pytestmark = pytest.mark.browser


def test_learner_launch_inside_a_cross_site_iframe(app: Flask, registered: Any, moodle: Any,
                                                   chromium: Any, tmp_path: Path) -> None:
    activity = min((a for a in moodle.activities.values() if a.course_id == 2),
                   key=lambda a: a.id)
    page_url = moodle.url(f"/mod/lti/view.php?id={activity.cmid}&as=learner1")
    assert page_url.startswith("http://127.0.0.1:")
    assert app.config["BASE_URL"].startswith("http://localhost:")  # another site
    context = chromium.new_context()
    page = context.new_page()
    page.goto(page_url)
    frame = page.frame_locator("#contentframe")
    heading = frame.locator("h1")
    heading.wait_for(timeout=15_000)
    assert "AI use" in heading.inner_text()
    page.screenshot(path=str(tmp_path / "learner-launch.png"))
    tool_frame = next(f for f in page.frames if f.url.startswith(app.config["BASE_URL"]))
    assert "/learner/placements/" in tool_frame.url
    cookies = {c["name"]: c for c in context.cookies(app.config["BASE_URL"])}
    assert "aiu_session" in cookies
    assert cookies["aiu_session"]["sameSite"] == "None" and cookies["aiu_session"]["secure"]
    context.close()
