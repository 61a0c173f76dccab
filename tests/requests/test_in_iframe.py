"""A real Chromium, inside the demo Moodle's cross-site iframe: the learner asks for an AI
tool with the keyboard-labelled form (the session and CSRF cookies work in the frame)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

pytestmark = pytest.mark.browser


def test_learner_sends_a_request_from_inside_the_iframe(app: Flask, registered: Any,
                                                        moodle: Any, chromium: Any,
                                                        tmp_path: Path) -> None:
    activity = min((a for a in moodle.activities.values() if a.course_id == 2),
                   key=lambda a: a.id)
    context = chromium.new_context()
    page = context.new_page()
    page.goto(moodle.url(f"/mod/lti/view.php?id={activity.cmid}&as=learner1"))
    frame = page.frame_locator("#contentframe")
    frame.get_by_role("link", name="Ask to use an AI tool").click(timeout=15_000)
    frame.get_by_label("Which AI tool do you want to use?").fill("Microsoft Copilot")
    frame.get_by_label("What do you want to use it for?").fill("Reading lists before I start")
    frame.get_by_label("Language support").check()
    frame.get_by_label("This course").check()
    frame.get_by_role("button", name="Send the request").click()
    frame.get_by_text("Your request has been sent to the ALS team").wait_for(timeout=15_000)
    assert "Waiting for the ALS team" in frame.locator("main").inner_text()
    page.screenshot(path=str(tmp_path / "request-sent.png"))
    context.close()
