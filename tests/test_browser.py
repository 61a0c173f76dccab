"""A real Chromium (Debian's, driven by Playwright) completes a learner launch inside the
demo platform's iframe, served from another site than the tool: proof that the cookies work
where Moodle puts the tool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from lti_tool.demo.server import serve_in_thread
from lti_tool.extensions import db
from lti_tool.platforms.service import upsert_platform
from tests.conftest import free_port

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
    assert heading.inner_text().strip() == activity.title  # the activity's title (one h1)
    page.screenshot(path=str(tmp_path / "learner-launch.png"))
    tool_frame = next(f for f in page.frames if f.url.startswith(app.config["BASE_URL"]))
    assert "/learner/placements/" in tool_frame.url
    cookies = {c["name"]: c for c in context.cookies(app.config["BASE_URL"])}
    assert "aiu_session" in cookies
    assert cookies["aiu_session"]["sameSite"] == "None" and cookies["aiu_session"]["secure"]
    context.close()


def test_the_tool_runs_under_its_content_security_policy_in_moodle_only(
        app: Flask, registered: Any, moodle: Any, chromium: Any) -> None:
    """The policy is in force in a real browser: the page and its script files (frame
    resizing) work inside the stand-in's iframe with no CSP violation, and the same page is
    refused inside another site's frame."""
    activity = min((a for a in moodle.activities.values() if a.course_id == 2),
                   key=lambda a: a.id)
    context = chromium.new_context()
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(moodle.url(f"/mod/lti/view.php?id={activity.cmid}&as=learner1"))
    page.frame_locator("#contentframe").locator("h1").wait_for(timeout=15_000)
    tool_frame = next(f for f in page.frames if f.url.startswith(app.config["BASE_URL"]))
    policy = tool_frame.evaluate("""async () => (await fetch(location.href)).headers
                                    .get('content-security-policy')""")
    assert f"frame-ancestors {moodle.issuer.rstrip('/')}" in policy
    assert "script-src 'self'" in policy
    # frame.js (a script file of the tool) asked the stand-in's script (a file too) to fit
    # the frame to the page: both ran.
    page.wait_for_function(
        "document.getElementById('contentframe').style.height !== ''", timeout=10_000)
    assert not [m for m in console if "Content Security Policy" in m], console

    # Another site on the same machine frames the same page: refused.
    tool_page = tool_frame.url
    elsewhere = Flask("elsewhere")
    elsewhere.add_url_rule("/", "page", lambda: (
        f'<!doctype html><title>Elsewhere</title><iframe src="{tool_page}"></iframe>'))
    port = free_port()
    handle = serve_in_thread(elsewhere, "127.0.0.1", port)
    other_origin = f"http://127.0.0.1:{port}"
    page.goto(other_origin + "/")
    page.wait_for_timeout(1_000)
    (framed,) = [f for f in page.frames if f is not page.main_frame]
    assert framed.url.startswith("chrome-error://"), framed.url
    # The control: once that origin is a registered platform, the same frame shows the page
    # (same site as the stand-in, so the same partitioned cookies: the learner's page).
    with app.app_context():
        upsert_platform(issuer=other_origin, client_id="other",
                        auth_login_url=other_origin + "/auth",
                        auth_token_url=other_origin + "/token",
                        key_set_url=other_origin + "/certs", deployment_id=None,
                        name="Elsewhere", actor="test")
        db.session.commit()
    page.reload()
    heading = page.frame_locator("iframe").locator("h1")
    heading.wait_for(state="attached", timeout=10_000)
    assert heading.inner_text().strip() == activity.title
    context.close()
    handle.shutdown()
