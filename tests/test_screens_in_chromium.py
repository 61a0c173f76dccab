"""Every staff, ALS and admin screen in a real Chromium, inside the Moodle stand-in's iframe
(issue 12): nothing scrolls sideways in the tool's frame at 320, 390 and 1280 px; axe-core
finds no serious or critical WCAG 2.2 AA issue at 390 and 1280 px; no internal code is shown;
the frame follows the page's real height; screenshots of each screen at 390 and 1280 px go
to test-artifacts/screens/. Then a keyboard-only run (Tab, Enter, Space and typing) of the
declaration, a request and recording an incident, with focus on the error summary after a
failed submit and on the field's first control after following its first link."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from lti_tool.extensions import db
from lti_tool.roles import service as roles
from lti_tool.roles.models import ALS
from tests.cases.flows import panel, record
from tests.declarations.test_declarations import GOOD, declare, deep_link
from tests.requests.conftest import ask, request_id
from tests.support.browser import FormBrowser
from tests.support.pages import platform_id
from tests.support.vocabulary import codes_in_html
from tests.test_accessibility import WCAG_TAGS, tool_frame

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screens"
WIDTHS = (320, 390, 1280)
SERIOUS = ("serious", "critical")


def serious_violations(frame: Any) -> list[str]:
    from axe_playwright_python.base import AXE_SCRIPT

    if not frame.evaluate("() => typeof axe !== 'undefined'"):
        frame.evaluate(AXE_SCRIPT)
    results = frame.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})", WCAG_TAGS)
    return [f"{v['id']} ({v['impact']}): {v['help']}: {v['nodes'][0]['html'][:120]}"
            for v in results["violations"] if v["impact"] in SERIOUS]


def settle(frame: Any) -> None:
    frame.evaluate("() => new Promise(r => requestAnimationFrame(() => "
                   "requestAnimationFrame(() => r(true))))")


def frame_height(page: Any) -> int:
    page.wait_for_timeout(100)  # frame.js reports on the next animation frame
    return int(page.evaluate("parseInt(document.getElementById('contentframe').style.height)"
                             " || 0"))


def check_screen(page: Any, frame: Any, name: str, problems: list[str]) -> None:
    """The screen at every width: no sideways scrolling; at 390 and 1280 px a screenshot
    and axe-core; and no internal code in its text."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        settle(frame)
        scroll, client = frame.evaluate("() => [document.documentElement.scrollWidth, "
                                        "document.documentElement.clientWidth]")
        if scroll > client:
            problems.append(f"{name} at {width} px scrolls sideways ({scroll} > {client})")
        if width == 320:
            continue
        page.locator("#contentframe").screenshot(path=str(ARTIFACTS / f"{name}-{width}.jpeg"),
                                                 type="jpeg", quality=70)
        problems.extend(f"{name} at {width} px: {v}" for v in serious_violations(frame))
    shown = codes_in_html(frame.content())
    if shown:
        problems.append(f"{name} shows internal codes: {sorted(shown)}")
    assert len(re.findall(r"<h1[ >]", frame.content())) == 1, f"{name}: one heading"


@pytest.fixture
def scene(app: Flask, registered: Any, moodle: Any) -> dict[str, Any]:
    """An activity with a declaration, a request, an incident and an ALS team."""
    with FormBrowser() as teacher:
        placed = deep_link(teacher, moodle)
    with app.app_context():
        for sub in ("2", "6"):  # the admin and als1
            roles.grant(platform_id(app), ALS, actor="test", sub=sub)
        db.session.commit()
    with FormBrowser() as learner:
        declare(learner, moodle, placed.id, "learner1", {**GOOD, "signature": "Lena Learner"})
        rid = request_id(ask(learner, app))
    with FormBrowser() as marker:
        panel_page = panel(marker, moodle, "marker1", placed.id, "learner1")
        incident = record(marker, panel_page)
        assert "Incident recorded" in incident.text
    base = app.config["BASE_URL"]
    placement = re.search(r"/staff/placements/(\d+)", incident.url)
    course = re.search(r"/staff/requests/courses/(\d+)", panel_page.text)
    assert placement and course
    return {"placed": placed, "rid": rid, "incident": incident.url.split("?")[0],
            "panel": panel_page.url.split("?")[0], "base": base,
            "placement": f"{base}/staff/placements/{placement.group(1)}",
            "course_requests": f"{base}/staff/requests/courses/{course.group(1)}"}


def test_every_staff_als_and_admin_screen(app: Flask, scene: dict[str, Any], moodle: Any,
                                          chromium: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base, placement = scene["base"], scene["placement"]
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(moodle.url(f"/mod/lti/view.php?id={scene['placed'].cmid}&as=admin"))
    frame = tool_frame(page, base)
    problems: list[str] = []
    heights: dict[str, int] = {}
    screens = {
        "dashboard": placement,
        "dashboard-filtered": placement + "?declaration=not-declared&sort=name",
        "learner-panel": scene["panel"],
        "incident-new": scene["panel"] + "/incidents/new",
        "incident": scene["incident"],
        "analytics": placement + "/analytics",
        "settings": placement + "/settings",
        "course-requests": scene["course_requests"],
        "course-request": f"{scene['course_requests']}/{scene['rid']}",
        "als-queue": base + "/als/",
        "als-request": f"{base}/als/requests/{scene['rid']}",
        "admin": base + "/admin/",
        "admin-roles": base + "/admin/roles",
    }
    for name, url in screens.items():
        page.set_viewport_size({"width": 1280, "height": 900})
        answer = frame.goto(url)
        assert answer is not None and answer.status == 200, (name, url)
        heights[name] = frame_height(page)
        check_screen(page, frame, name, problems)

    # The dashboard announces its result count after filtering, through the one live region.
    frame.goto(screens["dashboard-filtered"])
    # (the dashboard's count reads "N of M learners match" since its search and pages)
    frame.wait_for_function("() => document.getElementById('live-region').textContent"
                            ".includes('learners match')", timeout=30_000)

    # Confirmation pages: recording an incident (with the email), revoking a role.
    page.set_viewport_size({"width": 1280, "height": 900})
    frame.goto(screens["incident-new"])
    frame.get_by_label("Turnitin", exact=False).check()
    frame.get_by_label("The system's score or report reference").fill("71%")
    frame.get_by_label("Your observations").fill("The tone changes in section 3.")
    frame.get_by_role("button", name="Preview the email to the learner").click()
    frame.wait_for_selector(".confirm-panel")
    assert "The email that will be sent" in frame.content()
    check_screen(page, frame, "incident-confirm", problems)
    frame.goto(screens["admin-roles"])
    frame.get_by_role("button", name=re.compile("^Revoke")).first.click()
    frame.wait_for_selector(".confirm-panel")
    heights["revoke-confirm"] = frame_height(page)
    check_screen(page, frame, "revoke-confirm", problems)

    # The frame follows the content: the same page twice gives the same height (it does
    # not creep up by the platform's margin), and a shorter page a shorter frame.
    page.set_viewport_size({"width": 1280, "height": 900})
    frame.goto(screens["learner-panel"])
    again = frame_height(page)
    assert abs(again - heights["learner-panel"]) <= 2, (again, heights["learner-panel"])
    frame.goto(screens["learner-panel"])
    assert abs(frame_height(page) - again) <= 2
    frame.goto(screens["admin"])
    assert frame_height(page) < again, heights

    assert problems == [], "\n".join(problems)
    context.close()

    keyboard_only_journeys(app, scene, moodle, chromium)


# --- keyboard only ------------------------------------------------------------------------------

_FOCUSED = """([selector, words]) => {
  const a = document.activeElement;
  return document.hasFocus() && !!a && a.matches(selector) &&
         (!words || a.textContent.replace(/\\s+/g, ' ').includes(words));
}"""


def tab_to(page: Any, frame: Any, selector: str, words: str | None = None,
           limit: int = 80) -> None:
    """Press Tab until the tool's frame has focus on ``selector`` (containing ``words``)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if frame.evaluate(_FOCUSED, [selector, words]):
            return
    raise AssertionError(f"Tab never reached {selector} {words or ''} on {frame.url}")


def active(frame: Any) -> str:
    """The focused element of the tool's frame: its id, or its tag and class."""
    return str(frame.evaluate("() => document.activeElement.id || "
                              "(document.activeElement.tagName + '.' + "
                              "document.activeElement.className)"))


def press_and_wait(page: Any, frame: Any, key: str, url_glob: str) -> None:
    with frame.expect_navigation(url=url_glob):
        page.keyboard.press(key)


def keyboard_only_journeys(app: Flask, scene: dict[str, Any], moodle: Any,
                           chromium: Any) -> None:
    """Tab, Enter, Space and typing only: learner2 declares (after a failed submit) and asks
    for an AI tool; marker1 records an incident for them, confirming it."""
    base, cmid = scene["base"], scene["placed"].cmid
    context = chromium.new_context(viewport={"width": 390, "height": 900})
    page = context.new_page()
    page.goto(moodle.url(f"/mod/lti/view.php?id={cmid}&as=learner2"))
    frame = tool_frame(page, base)
    tab_to(page, frame, "a", "Make your declaration")
    press_and_wait(page, frame, "Enter", "**/declare")
    tab_to(page, frame, "button", "Submit my declaration")
    press_and_wait(page, frame, "Enter", "**/declare")
    assert "There is a problem" in frame.content()
    assert active(frame) == "error-summary"  # focus moved to the error summary
    tab_to(page, frame, "#error-summary a", limit=3)
    page.keyboard.press("Enter")
    assert active(frame) == "uses_ai-0"  # the field's first control, not its wrapper
    page.keyboard.press("Space")  # "Yes, before I start"
    tab_to(page, frame, "input[name=permitted_uses]")
    page.keyboard.press("Space")
    tab_to(page, frame, "textarea[name=ai_tools]")
    page.keyboard.type("ChatGPT")
    for name in ("confirmed_no_personal_data", "confirmed_no_ai_after_start",
                 "confirmed_own_work"):
        tab_to(page, frame, f"input[name={name}]")
        page.keyboard.press("Space")
    tab_to(page, frame, "input[name=signature]")
    page.keyboard.type("Liam Learnwell")
    tab_to(page, frame, "button", "Submit my declaration")
    press_and_wait(page, frame, "Enter", "**/declarations/*")
    assert "Your declaration is recorded" in frame.content()

    tab_to(page, frame, "a", "My AI tool requests")
    press_and_wait(page, frame, "Enter", "**/requests/")
    tab_to(page, frame, "a", "Ask to use an AI tool")
    press_and_wait(page, frame, "Enter", "**/requests/new")
    tab_to(page, frame, "input[name=tool_name]")
    page.keyboard.type("Microsoft Copilot")
    tab_to(page, frame, "[name=purpose]")
    page.keyboard.type("To find recommendations for wider reading.")
    tab_to(page, frame, "input[name=reason]")
    page.keyboard.press("Space")
    tab_to(page, frame, "[name=reason_detail]")
    page.keyboard.type("An agreed adjustment.")
    tab_to(page, frame, "input[name=scope]")
    page.keyboard.press("Space")
    tab_to(page, frame, "button", "Send the request")
    press_and_wait(page, frame, "Enter", "**/requests/*")
    assert "Your request has been sent" in frame.content()
    assert "status-message" in active(frame)  # the success message has focus
    context.close()

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(moodle.url(f"/mod/lti/view.php?id={cmid}&as=marker1"))
    frame = tool_frame(page, base)
    tab_to(page, frame, "a", "Liam Learnwell", limit=120)
    press_and_wait(page, frame, "Enter", "**/learners/*")
    tab_to(page, frame, "a", "Record an incident")
    press_and_wait(page, frame, "Enter", "**/incidents/new")
    tab_to(page, frame, "input[name=source]")
    page.keyboard.press("Space")  # the authorised AI-checking system
    tab_to(page, frame, "input[name=checker_result]")
    page.keyboard.type("64%")
    tab_to(page, frame, "textarea[name=observations]")
    page.keyboard.type("The register changes in the conclusion.")
    tab_to(page, frame, "button", "Preview the email to the learner")
    press_and_wait(page, frame, "Enter", "**/incidents/new")
    assert "The email that will be sent" in frame.content()
    tab_to(page, frame, ".confirm-panel button", "Record it and email the learner")
    press_and_wait(page, frame, "Enter", "**/incidents/*")
    assert "Incident recorded" in frame.content()
    assert "status-message" in active(frame)
    context.close()
