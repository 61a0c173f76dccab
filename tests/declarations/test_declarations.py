"""Learners declare through whole launches; Moodle's gradebook receives the score; staff see
the course. Everything through the Moodle 4.5 stand-in over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from lti_tool.declarations.models import Declaration, PlacementBinding
from lti_tool.extensions import db
from lti_tool.outbox.handlers import SCORE
from lti_tool.outbox.models import DELIVERED, OutboxMessage
from lti_tool.people.models import Placement
from lti_tool.policy import service as policies
from tests.conftest import row_counts
from tests.support.browser import FormBrowser, launch
from tests.support.pages import FieldValue, post_form, wait_for

GOOD: dict[str, FieldValue] = {
    "uses_ai": "yes", "permitted_uses": ["reading", "planning"],
    "ai_tools": "ChatGPT\nMicrosoft Copilot", "confirmed_no_personal_data": "y",
    "confirmed_no_ai_after_start": "y", "confirmed_own_work": "y",
    "signature": "Lena Learner",
}


def deep_link(browser: FormBrowser, moodle: Any, *, title: str = "Unit 1 declaration",
              uses: list[str] | None = None, qualification: str = "CIPD",
              user: str = "marker1", course_id: int = 2) -> Any:
    """Place the tool by deep linking as a teacher; returns the new Moodle activity."""
    form = launch(browser, moodle, user, message_type="LtiDeepLinkingRequest",
                  course_id=course_id)
    assert "/staff/deep-link" in form.url, form.text
    done = post_form(browser, form, {
        "title": title, "assignment_name": "Unit 1 assignment", "qualification": qualification,
        "permitted_uses": uses or ["reading", "planning", "criteria"],
        "guidance": "Use only the reading list tools."})
    assert done.status_code == 200, done.text
    assert moodle.deep_link_results[-1].ok, moodle.deep_link_results[-1].message
    return moodle.activities[moodle.deep_link_results[-1].activity_ids[0]]


def declare(browser: FormBrowser, moodle: Any, activity_id: int, user: str = "learner1",
            fields: Mapping[str, FieldValue] | None = None) -> requests.Response:
    page = launch(browser, moodle, user, activity_id)
    assert page.status_code == 200, page.text
    form = browser.open(page.url.rstrip("/") + "/declare")
    assert form.status_code == 200
    return post_form(browser, form, dict(GOOD if fields is None else fields))


@pytest.fixture
def activity(registered: Any, moodle: Any) -> Any:
    with FormBrowser() as teacher:
        return deep_link(teacher, moodle)


def test_deep_linked_activity_carries_its_settings(app: Flask, activity: Any, moodle: Any,
                                                   browser: FormBrowser) -> None:
    (item,) = moodle.activity_items(activity.id)
    assert item.score_maximum == 1
    assert item.tag == "aiu-declaration"
    review = moodle.review_item(activity.id)
    assert review is not None and review.submission_review["url"].endswith("/lti/launch")
    page = launch(browser, moodle, "learner1", activity.id)
    assert "Unit 1 declaration" in page.text and "Unit 1 assignment" in page.text
    assert "Use only the reading list tools." in page.text
    assert "Stage 3:" in page.text  # the consequences, in the policy's words
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PlacementBinding)) == 1


def test_learner_declares_and_moodle_gets_the_score(app: Flask, activity: Any, moodle: Any,
                                                    browser: FormBrowser) -> None:
    receipt = declare(browser, moodle, activity.id)
    assert receipt.status_code == 200, receipt.text
    assert "Your declaration is recorded" in receipt.text
    assert "ChatGPT, Microsoft Copilot" in receipt.text
    (item,) = moodle.activity_items(activity.id)
    wait_for(lambda: moodle.grade_for(item.id, "learner1") is not None)
    grade = moodle.grade_for(item.id, "learner1")
    assert grade.score_given == 1 and grade.score_maximum == 1
    assert grade["gradingProgress"] == "FullyGraded"
    assert grade["activityProgress"] == "Completed"
    assert grade.comment.startswith("AI use declaration received on ")
    assert grade.comment.endswith("(policy AIU v1.0)")
    post = [r for r in moodle.requests_log if r.path.endswith("/scores")][-1]
    assert post.content_type == "application/vnd.ims.lis.v1.score+json"
    assert post.json["userId"] == "3"
    page = browser.open(receipt.url.split("/learner/")[0] + f"/learner/placements/"
                        f"{_placement_id(app)}")
    assert "Declared on" in page.text


def _placement_id(app: Flask) -> int:
    with app.app_context():
        binding = db.session.scalar(sa.select(PlacementBinding))
        assert binding is not None
        return binding.placement_id


def test_declaring_no_ai_use(app: Flask, activity: Any, moodle: Any,
                             browser: FormBrowser) -> None:
    receipt = declare(browser, moodle, activity.id, fields={
        **GOOD, "uses_ai": "no", "permitted_uses": [], "ai_tools": ""})
    assert receipt.status_code == 200, receipt.text
    with app.app_context():
        declaration = db.session.scalar(sa.select(Declaration))
        assert declaration is not None and not declaration.uses_ai
        assert json.loads(declaration.ai_tools) == []


BAD_INPUTS: list[tuple[str, dict[str, FieldValue], str]] = [
    ("no answer", {"uses_ai": ""}, "Choose Yes or No"),
    ("yes without uses", {"permitted_uses": []}, "Choose what you used"),
    ("a use the assignment does not allow", {"permitted_uses": ["criteria", "essay-writing"]},
     "Choose only uses this assignment allows"),
    ("yes without tools", {"ai_tools": "  "}, "Name the AI tool"),
    ("no but uses given", {"uses_ai": "no"}, "clear the uses and tools"),
    ("data confirmation missing", {"confirmed_no_personal_data": ""}, "company or personal"),
    ("after-start confirmation missing", {"confirmed_no_ai_after_start": ""},
     "once you start"),
    ("own work confirmation missing", {"confirmed_own_work": ""}, "your own"),
    ("no signature", {"signature": ""}, "Type your full name to sign"),
    ("someone else's name", {"signature": "Liam Learnwell"}, "as Moodle knows it: Lena"),
    ("signature too long", {"signature": "x" * 201}, "200 characters"),
]


@pytest.mark.parametrize("name,change,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_every_validation_error_is_shown_and_nothing_is_written(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser, name: str,
        change: dict[str, FieldValue], message: str) -> None:
    with FormBrowser() as teacher:
        activity = deep_link(teacher, moodle, uses=["reading", "criteria"])
    page = launch(browser, moodle, "learner1", activity.id)
    form = browser.open(page.url + "/declare")
    before = row_counts(app)
    fields = {k: v for k, v in {**GOOD, "permitted_uses": ["reading"], **change}.items()
              if v != ""}
    answer = post_form(browser, form, fields)
    assert answer.status_code == 400
    assert message in answer.text
    assert 'aria-invalid="true"' in answer.text or "error-message" in answer.text
    assert "There is a problem" in answer.text
    assert row_counts(app) == before


def test_missing_csrf_token_is_refused(app: Flask, activity: Any, moodle: Any,
                                       browser: FormBrowser) -> None:
    page = launch(browser, moodle, "learner1", activity.id)
    before = row_counts(app)
    answer = browser.request("POST", page.url + "/declare", data={"uses_ai": "no"},
                             initiator=page.url)
    assert answer.status_code == 400 and "form has expired" in answer.text
    assert row_counts(app) == before


def test_changing_a_declaration_keeps_the_history(app: Flask, activity: Any, moodle: Any,
                                                  browser: FormBrowser) -> None:
    declare(browser, moodle, activity.id)
    declare(browser, moodle, activity.id, fields={
        **GOOD, "uses_ai": "no", "permitted_uses": [], "ai_tools": ""})
    with app.app_context():
        first, second = db.session.scalars(sa.select(Declaration).order_by(Declaration.id))
        assert second.supersedes_id == first.id
        assert first.uses_ai and not second.uses_ai
    with FormBrowser() as marker:
        panel = launch(marker, moodle, "marker1", activity.id)
        learner = marker.open(panel.url + f"/learners/{first.person_id}")
        assert "Current declaration" in learner.text and "Earlier version" in learner.text
    (item,) = moodle.activity_items(activity.id)
    wait_for(lambda: len([r for r in moodle.requests_log if r.path.endswith("/scores")]) == 2)
    with app.app_context():
        scores = sa.select(OutboxMessage).where(OutboxMessage.kind == SCORE)  # not receipts
        stamps = [json.loads(m.payload)["score"]["timestamp"] for m in db.session.scalars(
            scores.order_by(OutboxMessage.id))]
        assert stamps[0] < stamps[1]  # strictly increasing, to the second
        assert all(m.status == DELIVERED for m in db.session.scalars(scores))


def test_learner_cannot_see_another_learners_declaration(app: Flask, activity: Any,
                                                         moodle: Any,
                                                         browser: FormBrowser) -> None:
    receipt = declare(browser, moodle, activity.id)
    with FormBrowser() as other:
        launch(other, moodle, "learner2", activity.id)
        answer = other.open(receipt.url)
        assert answer.status_code == 403
        assert "only see your own" in answer.text
        staff_page = other.open(receipt.url.split("/learner/")[0] + "/staff/placements/"
                                f"{_placement_id(app)}")
        assert staff_page.status_code == 403


def test_new_policy_version_asks_learners_to_declare_again(app: Flask, activity: Any,
                                                           moodle: Any, browser: FormBrowser,
                                                           tmp_path: Path,
                                                           runner: Any) -> None:
    declare(browser, moodle, activity.id)
    data = json.loads(policies.BUNDLED.read_text("utf-8"))
    data["version"] = "1.1"
    new_file = tmp_path / "aiu-1.1.json"
    new_file.write_text(json.dumps(data), "utf-8")
    assert runner.invoke(args=["policy", "import", str(new_file)]).exit_code == 0
    published = runner.invoke(args=["policy", "publish", "1.1"])
    assert published.exit_code == 0, published.output
    page = launch(browser, moodle, "learner1", activity.id)
    assert "please declare again" in page.text and "AIU v1.1" in page.text
    with FormBrowser() as marker:
        overview = launch(marker, moodle, "marker1", activity.id)
        assert "Needs to declare again" in overview.text
    receipt = declare(browser, moodle, activity.id)
    assert "AIU v1.1" in receipt.text
    (item,) = moodle.activity_items(activity.id)
    wait_for(lambda: (g := moodle.grade_for(item.id, "learner1")) is not None
             and g.comment.endswith("(policy AIU v1.1)"))


def test_score_waits_while_moodle_is_down(app: Flask, activity: Any, moodle: Any,
                                          browser: FormBrowser, runner: Any) -> None:
    moodle.down = True
    receipt = declare(browser, moodle, activity.id)
    assert receipt.status_code == 200  # the learner is not held up by Moodle's outage
    (item,) = moodle.activity_items(activity.id)
    time.sleep(0.3)
    assert moodle.grade_for(item.id, "learner1") is None
    moodle.down = False
    with app.app_context():
        db.session.execute(sa.update(OutboxMessage).values(
            next_attempt_at=OutboxMessage.created_at))
        db.session.commit()
    assert "1 delivered" in runner.invoke(args=["worker", "--once"]).output
    assert moodle.grade_for(item.id, "learner1").score_given == 1


def test_score_finds_the_line_item_when_moodle_omits_it(app: Flask, registered: Any,
                                                        moodle: Any,
                                                        browser: FormBrowser) -> None:
    activity = moodle.add_activity(2, title="Two items", client_id=registered.client_id,
                                   line_items=2)
    receipt = declare(browser, moodle, activity.id)
    assert receipt.status_code == 200, receipt.text
    first = moodle.activity_items(activity.id)[0]
    wait_for(lambda: moodle.grade_for(first.id, "learner1") is not None)


def test_unconfigured_placement_is_set_up_by_the_first_staff_launch(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser) -> None:
    page = launch(browser, moodle, "marker1")
    assert page.url.split("?")[0].endswith("/settings") and "Set up this activity" in page.text
    bad = post_form(browser, page, {"title": "", "assignment_name": "Unit 2",
                                    "qualification": "CMI", "permitted_uses": []})
    assert bad.status_code == 400
    assert "Enter a title." in bad.text and "Choose at least one permitted use." in bad.text
    done = post_form(browser, page, {"title": "Unit 2 declaration", "assignment_name": "Unit 2",
                                     "qualification": "CMI", "permitted_uses": ["planning"]})
    assert done.status_code == 200 and "Settings saved." in done.text
    with FormBrowser() as learner:
        learner_page = launch(learner, moodle, "learner1")
        assert "plan the layout of your assignment" in learner_page.text
        assert "find recommendations for wider academic reading" not in learner_page.text


def test_staff_view_lists_every_learner_from_names_and_roles(app: Flask, activity: Any,
                                                             moodle: Any,
                                                             browser: FormBrowser) -> None:
    with FormBrowser() as learner:
        declare(learner, moodle, activity.id)
    page = launch(browser, moodle, "marker1", activity.id)
    assert "Lena Learner" in page.text and "Liam Learnwell" in page.text
    assert "Not declared" in page.text and "Declared" in page.text
    assert "1</strong> of 2 learners" in page.text or "<strong>1</strong> of" in page.text
    assert "Maria Marker" not in page.text.split("<tbody>")[1]  # staff are not learners
    csv_page = browser.open(page.url + "/declarations.csv")
    assert csv_page.headers["Content-Type"].startswith("text/csv")
    lines = csv_page.text.strip().splitlines()
    assert lines[0].startswith("Moodle user id,Name,Email,Status")
    # Statuses in words (issue 12), never the internal state names.
    assert any("Lena Learner" in line and ",Declared," in line for line in lines)
    assert any("Liam Learnwell" in line and ",Not declared," in line for line in lines)
    moodle.add_user("learner9", "Nina", "Newcomer")
    moodle.enrol(2, "learner9")
    page = browser.open(page.url)
    assert "Nina Newcomer" not in page.text  # cached until refreshed
    refreshed = post_form(browser, page, {}, action=page.url + "/roster")
    assert "Nina Newcomer" in refreshed.text and "refreshed" in refreshed.text


def test_staff_overview_queries_do_not_grow_with_the_course(app: Flask, activity: Any,
                                                            moodle: Any,
                                                            browser: FormBrowser) -> None:
    from lti_tool.declarations import overview as declarations
    from lti_tool.people.models import Course, Placement

    for n in range(6):
        moodle.add_user(f"extra{n}", "Extra", f"Learner{n}")
        moodle.enrol(2, f"extra{n}")
    launch(browser, moodle, "marker1", activity.id)  # fetches the roster
    with app.app_context():
        placement = db.session.get(Placement, _placement_id(app))
        assert placement is not None
        course = db.session.get(Course, placement.course_id)
        assert course is not None
        policy = policies.current_or_bundled()
        statements: list[str] = []
        sa.event.listen(db.engine, "before_cursor_execute",
                        lambda *a: statements.append(a[2]))
        rows = declarations.placement_overview(course, placement, policy)
        assert len(rows) >= 8
        assert len(statements) <= 4


def test_permanent_failures_are_shown_to_staff_and_admins_can_resend(
        app: Flask, activity: Any, moodle: Any, browser: FormBrowser, runner: Any) -> None:
    moodle.fail_next(1, status=400, body="Incorrect score received", only="ags")
    declare(browser, moodle, activity.id)
    (item,) = moodle.activity_items(activity.id)
    with app.app_context():
        wait_for(lambda: db.session.scalar(sa.select(OutboxMessage.status).where(
            OutboxMessage.kind == SCORE)) == "failed")  # the score, not the receipt email
        db.session.remove()
    with FormBrowser() as marker:
        overview = launch(marker, moodle, "marker1", activity.id)
        assert "could not be sent to Moodle" in overview.text
        assert "Incorrect score received" in overview.text
    with FormBrowser() as admin:
        launch(admin, moodle, "admin", activity.id)
        page = admin.open(app.config["BASE_URL"] + "/admin/")
        assert "Send again" in page.text
        message_id = page.text.split("/admin/outbox/", 1)[1].split("/", 1)[0]
        done = post_form(admin, page, {}, action=app.config["BASE_URL"]
                         + f"/admin/outbox/{message_id}/retry")
        assert "Queued again" in done.text
    runner.invoke(args=["worker", "--once"])
    assert moodle.grade_for(item.id, "learner1").score_given == 1


def _authorise(app: Flask, learner_sub: str, tool: str, *, days: int = 30,
               purpose: str = "Dictation",
               conditions: str = "Dictation only, before starting") -> int:
    """An ALS member (als1) approves a request of the learner for ``tool``."""
    from datetime import timedelta

    from lti_tool.dbtypes import utcnow
    from lti_tool.people.models import Person
    from lti_tool.requests import service as requests_service

    with app.app_context():
        learner = db.session.scalar(sa.select(Person).where(Person.sub == learner_sub))
        placement = db.session.get(Placement, _placement_id(app))
        assert learner is not None and placement is not None
        als = db.session.scalar(sa.select(Person).where(Person.sub == "6"))
        if als is None:
            als = Person(platform_id=learner.platform_id, sub="6", name="Alex Support")
            db.session.add(als)
            db.session.flush()
        req = requests_service.create_request(learner, placement, requests_service.NewRequest(
            tool_name=tool, purpose=purpose, reason="accessibility", scope="course"))
        decision = requests_service.decide(
            req, als, version=req.version, outcome="approved",
            conditions=conditions, scope="course",
            expires_on=(utcnow() + timedelta(days=days)).date())
        db.session.commit()
        return decision.id


def test_authorisations_are_offered_cited_and_shown_to_staff(app: Flask, activity: Any,
                                                             moodle: Any,
                                                             browser: FormBrowser) -> None:
    page = launch(browser, moodle, "learner1", activity.id)
    decision_id = _authorise(app, "3", "Dragon Dictate")
    form = browser.open(page.url + "/declare")
    # Issue 11: the authorisation is quoted as "tool — what for, conditions …, until …".
    assert "Dragon Dictate — Dictation, conditions: Dictation only, before starting" in form.text
    receipt = post_form(browser, form, {**GOOD, "authorisations": [str(decision_id)]})
    assert receipt.status_code == 200, receipt.text
    assert "Relies on these authorisations" in receipt.text
    assert "Dragon Dictate — Dictation, conditions: Dictation only" in receipt.text
    with FormBrowser() as marker:
        overview = launch(marker, moodle, "marker1", activity.id)
        assert "Dragon Dictate (until" in overview.text


def test_expired_authorisations_are_not_offered(app: Flask, activity: Any, moodle: Any,
                                                browser: FormBrowser) -> None:
    from datetime import timedelta

    from lti_tool.requests.models import RequestDecision

    page = launch(browser, moodle, "learner1", activity.id)
    decision_id = _authorise(app, "3", "Grammarly")
    with app.app_context():
        decision = db.session.get(RequestDecision, decision_id)
        assert decision is not None
        # Expired yesterday (a direct update: decisions are otherwise never changed).
        db.session.execute(sa.update(RequestDecision).where(RequestDecision.id == decision_id)
                           .values(expires_on=decision.created_at.date() - timedelta(days=1)))
        db.session.commit()
    form = browser.open(page.url + "/declare")
    assert "Grammarly" not in form.text
