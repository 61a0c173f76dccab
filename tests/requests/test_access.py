"""Who sees which request: learners their own only; course staff their course's learners',
read-only; only ALS members decide, on their own platform."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.people.models import Course
from lti_tool.roles import service as roles
from lti_tool.roles.models import ALS
from tests.conftest import row_counts
from tests.requests.conftest import AN_APPROVAL, als_page, ask, base, decide, request_id
from tests.support.browser import FormBrowser, launch
from tests.support.pages import fill, form, platform_id, text


def _course_id(app: Flask, context_id: str) -> int:
    with app.app_context():
        found = db.session.scalar(sa.select(Course.id).where(Course.context_id == context_id))
        assert found is not None
        return int(found)


def test_a_learner_sees_only_their_own_requests(app: Flask, registered: Any, moodle: Any,
                                                browser: FormBrowser,
                                                second_browser: FormBrowser) -> None:
    launch(browser, moodle, "learner1")
    page = ask(browser, app)
    rid = request_id(page)
    launch(second_browser, moodle, "learner2")
    assert "Microsoft Copilot" not in text(second_browser.open(base(app) + "/requests/"))
    assert second_browser.open(f"{base(app)}/requests/{rid}").status_code == 404
    _, fields = form(page, f"/requests/{rid}/withdraw")
    token = form(second_browser.open(base(app) + "/requests/new"), "/requests/new")[1]
    before = row_counts(app)
    for path in (f"/requests/{rid}/withdraw", f"/requests/{rid}/answer"):
        answer = second_browser.request("POST", base(app) + path,
                                        data={**fields, "csrf_token": token["csrf_token"],
                                              "answer": "mine now"})
        assert answer.status_code == 404, path
    assert row_counts(app) == before
    assert "Waiting for the ALS team" in text(browser.open(f"{base(app)}/requests/{rid}"))


def test_learners_cannot_open_als_or_staff_pages(app: Flask, registered: Any, moodle: Any,
                                                 browser: FormBrowser) -> None:
    launch(browser, moodle, "learner1")
    rid = request_id(ask(browser, app))
    course = _course_id(app, "2")
    for path in ("/als/", f"/als/requests/{rid}", f"/staff/requests/courses/{course}",
                 f"/staff/requests/courses/{course}/{rid}"):
        assert browser.open(base(app) + path).status_code == 403, path


def test_staff_see_outcomes_read_only_and_cannot_decide(app: Flask, registered: Any,
                                                        moodle: Any, browser: FormBrowser,
                                                        second_browser: FormBrowser,
                                                        grant_als: Any) -> None:
    grant_als("6")
    launch(browser, moodle, "learner1")
    rid = request_id(ask(browser, app))
    with FormBrowser() as als:
        launch(als, moodle, "als1")
        decide(als, app, rid, {"outcome": "more_info", "question": "Which adjustment exactly?"})
        decide(als, app, rid, AN_APPROVAL)

    landing = launch(second_browser, moodle, "marker1")  # Instructor, not in the ALS team
    assert "Review queue" not in text(landing)
    assert "AI tool requests in this course" in text(landing)
    course = _course_id(app, "2")
    listing = second_browser.open(f"{base(app)}/staff/requests/courses/{course}")
    assert listing.status_code == 200
    assert "Lena Learner" in text(listing) and "Approved" in text(listing)
    detail = second_browser.open(f"{base(app)}/staff/requests/courses/{course}/{rid}")
    assert detail.status_code == 200
    assert AN_APPROVAL["conditions"] in text(detail) and "31 July 2099" in text(detail)
    assert "I have dyslexia" not in text(detail)  # the reasons stay with the ALS team
    assert "Support plan reference" not in text(detail)
    assert "asked the learner for more information" in text(detail)
    assert "Which adjustment exactly?" not in text(detail)
    assert "<form" not in detail.text and "Open in the review queue" not in text(detail)
    assert second_browser.open(base(app) + "/als/").status_code == 403
    assert second_browser.open(f"{base(app)}/als/requests/{rid}").status_code == 403


def test_a_former_als_member_cannot_decide_from_an_open_page(app: Flask, registered: Any,
                                                             moodle: Any, browser: FormBrowser,
                                                             second_browser: FormBrowser,
                                                             grant_als: Any) -> None:
    grant_als("5")
    launch(browser, moodle, "learner1")
    rid = request_id(ask(browser, app))
    launch(second_browser, moodle, "marker1")
    page = als_page(second_browser, app, rid)  # a valid form and CSRF token
    with app.app_context():
        roles.revoke(platform_id(app), ALS, actor="test", sub="5")
        db.session.commit()
    before = row_counts(app)
    answer = fill(second_browser, page, "/decision", AN_APPROVAL, follow=False)
    assert answer.status_code == 403
    assert "This page is for the ALS team" in text(answer)
    assert row_counts(app) == before


def test_staff_of_another_course_see_nothing_of_it(app: Flask, registered: Any, moodle: Any,
                                                   browser: FormBrowser,
                                                   second_browser: FormBrowser) -> None:
    launch(browser, moodle, "learner1")
    course_wide = request_id(ask(browser, app, tool_name="Copilot", scope="course"))
    everywhere = request_id(ask(browser, app, tool_name="Gemini", scope="qualification"))
    with FormBrowser() as other:
        launch(other, moodle, "learner1", course_id=3)  # learner1 is a learner in course 3 too
    c2, c3 = _course_id(app, "2"), _course_id(app, "3")
    launch(second_browser, moodle, "marker2", course_id=3)  # teaches course 3 only
    assert second_browser.open(f"{base(app)}/staff/requests/courses/{c2}").status_code == 403
    assert second_browser.open(
        f"{base(app)}/staff/requests/courses/{c2}/{course_wide}").status_code == 403
    assert second_browser.open(
        f"{base(app)}/staff/requests/courses/{c3}/{course_wide}").status_code == 404
    listing = text(second_browser.open(f"{base(app)}/staff/requests/courses/{c3}"))
    assert "Gemini" in listing and "Copilot" not in listing  # qualification-wide only
    assert second_browser.open(
        f"{base(app)}/staff/requests/courses/{c3}/{everywhere}").status_code == 200


def test_the_als_role_holds_on_its_own_platform_only(app: Flask, registered: Any,
                                                    moodle: Any, browser: FormBrowser) -> None:
    from lti_tool.platforms import service as platforms
    from lti_tool.requests import service

    launch(browser, moodle, "learner1")
    rid = request_id(ask(browser, app))
    with app.app_context():  # a second Moodle site, where user 6 is in the ALS team
        other = platforms.upsert_platform(
            issuer="https://other.example.ac.uk", client_id="x", auth_login_url="https://o/a",
            auth_token_url="https://o/t", key_set_url="https://o/k", deployment_id="1",
            name="Other", actor="test")
        roles.grant(other.id, ALS, actor="test", sub="6")
        db.session.commit()
        assert service.queue(other.id) == []
        assert [r.id for r in service.queue(platform_id(app))] == [rid]
    with FormBrowser() as als:
        landing = launch(als, moodle, "als1")  # user 6 on this site is not in its ALS team
        assert "Review queue" not in text(landing)
        assert als.open(base(app) + "/als/").status_code == 403
        assert als.open(f"{base(app)}/als/requests/{rid}").status_code == 403
