"""Every page checks the role and the context of the launch that opened the session."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.people.models import Course, Placement
from tests.support.browser import FormBrowser, launch


def _placement_id(app: Flask, context_id: str) -> int:
    with app.app_context():
        placement = db.session.scalar(
            sa.select(Placement).join(Course).where(Course.context_id == context_id))
        assert placement is not None
        return placement.id


def test_pages_without_a_launch_ask_to_open_from_moodle(app: Flask, tool: Any,
                                                       browser: FormBrowser) -> None:
    for path in ("/learner/placements/1", "/staff/placements/1", "/admin/"):
        answer = browser.open(app.config["BASE_URL"] + path)
        assert answer.status_code == 401
        assert "Open the activity again in Moodle" in answer.text


def test_learner_cannot_open_staff_or_admin_pages(app: Flask, registered: Any, moodle: Any,
                                                  browser: FormBrowser) -> None:
    launch(browser, moodle, "learner1")
    placement = _placement_id(app, "2")
    base = app.config["BASE_URL"]
    assert browser.open(f"{base}/staff/placements/{placement}").status_code == 403
    assert browser.open(f"{base}/admin/").status_code == 403
    assert browser.open(f"{base}/staff/deep-link").status_code == 403


def test_staff_cannot_open_admin_pages(app: Flask, registered: Any, moodle: Any,
                                       browser: FormBrowser) -> None:
    launch(browser, moodle, "marker1")
    assert browser.open(app.config["BASE_URL"] + "/admin/").status_code == 403


def test_staff_of_course_a_cannot_open_course_b(app: Flask, registered: Any, moodle: Any,
                                                browser: FormBrowser) -> None:
    # learner1 is in both courses: launching from course 3 creates its placement.
    with FormBrowser() as other:
        launch(other, moodle, "learner1", course_id=3)
    placement_b = _placement_id(app, "3")
    launch(browser, moodle, "marker1")  # marker1 teaches course 2 only
    placement_a = _placement_id(app, "2")
    base = app.config["BASE_URL"]
    assert browser.open(f"{base}/staff/placements/{placement_a}").status_code == 200
    answer = browser.open(f"{base}/staff/placements/{placement_b}")
    assert answer.status_code == 403
    assert "another course or activity" in answer.text


def test_learner_cannot_open_another_course_placement(app: Flask, registered: Any,
                                                      moodle: Any,
                                                      browser: FormBrowser) -> None:
    with FormBrowser() as other:
        launch(other, moodle, "learner3", course_id=3)
    placement_b = _placement_id(app, "3")
    launch(browser, moodle, "learner2")
    answer = browser.open(f"{app.config['BASE_URL']}/learner/placements/{placement_b}")
    assert answer.status_code == 403


def test_admin_mints_a_registration_url_with_csrf(app: Flask, registered: Any, moodle: Any,
                                                 browser: FormBrowser) -> None:
    launch(browser, moodle, "admin")
    base = app.config["BASE_URL"]
    page = browser.open(base + "/admin/")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    without = browser.request("POST", base + "/admin/registration-url", data={},
                              initiator=base + "/admin/")
    assert without.status_code == 400 and "form has expired" in without.text
    minted = browser.request("POST", base + "/admin/registration-url",
                             data={"csrf_token": token}, initiator=base + "/admin/")
    assert minted.status_code == 200
    assert base + "/lti/register/" in minted.text


def _launch_id(url: str) -> str:
    return url.split("/l/", 1)[1].split("/", 1)[0]


def _activity_in_course_2(moodle: Any, registered: Any, title: str) -> int:
    return int(moodle.add_activity(2, title=title, client_id=registered.client_id).id)


def test_two_tabs_keep_their_own_launch(app: Flask, registered: Any, moodle: Any,
                                       browser: FormBrowser) -> None:
    """A marker with two Moodle tabs: each tab's pages keep the context of its own launch."""
    second = _activity_in_course_2(moodle, registered, "Second assignment")
    first_tab = launch(browser, moodle, "marker1")
    second_tab = launch(browser, moodle, "marker1", second)
    assert first_tab.status_code == second_tab.status_code == 200
    assert "/l/" in first_tab.url and "/l/" in second_tab.url
    assert _launch_id(first_tab.url) != _launch_id(second_tab.url)
    # The first tab carries on after the second launched: the same page, then a link on it.
    again = browser.open(first_tab.url)
    assert again.status_code == 200, again.text[:300]
    assert browser.open(second_tab.url).status_code == 200


def test_each_tab_has_only_the_rights_of_its_own_launch(app: Flask, registered: Any,
                                                        moodle: Any,
                                                        browser: FormBrowser) -> None:
    # learner1 is in courses 2 and 3: one tab each.
    course_2 = launch(browser, moodle, "learner1")
    course_3 = launch(browser, moodle, "learner1", course_id=3)
    assert browser.open(course_2.url).status_code == 200
    refused = browser.open(course_3.url.replace(_launch_id(course_3.url),
                                                _launch_id(course_2.url)))
    assert refused.status_code == 403 and "another course or activity" in refused.text


def test_links_on_a_page_carry_its_launch(app: Flask, registered: Any, moodle: Any,
                                         browser: FormBrowser) -> None:
    page = launch(browser, moodle, "learner1")
    # Navigation links and form actions on the page name this launch.
    assert f'href="/l/{_launch_id(page.url)}/learner/placements/' in page.text


def test_a_launch_id_from_another_browser_gives_only_this_browsers_rights(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser) -> None:
    course_3 = launch(browser, moodle, "learner1", course_id=3)
    with FormBrowser() as other:
        launch(other, moodle, "learner3", course_id=3)
        # learner3's own launch decides (same course: the page opens, as learner3)...
        assert "Lena" not in other.open(course_3.url).text
    with FormBrowser() as other:
        launch(other, moodle, "learner2")  # ...and learner2 is not in course 3 at all.
        assert other.open(course_3.url).status_code == 403


def test_another_person_in_the_same_browser_replaces_the_launches(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser) -> None:
    learner = launch(browser, moodle, "learner1")
    launch(browser, moodle, "learner2")
    # learner1's tab no longer acts as learner1: the browser now holds learner2's launch only.
    form = browser.open(learner.url + "/declare").text
    assert "Lena Learner" not in form and "Moodle knows it: " in form
