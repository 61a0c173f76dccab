"""Deep linking and submission review launches, as Moodle 4.5 and 5.1 send them."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from lti_tool.lti.keys import KeyStore
from tests.conftest import row_counts
from tests.support.browser import FormBrowser, launch, start_launch
from tests.support.pages import post_form

DL = "LtiDeepLinkingRequest"
REVIEW = "LtiSubmissionReviewRequest"


def _deep_link(app: Flask, browser: FormBrowser, moodle: Any, title: str) -> Any:
    form_page = launch(browser, moodle, "marker1", message_type=DL)
    assert form_page.status_code == 200, form_page.text
    assert "/staff/deep-link" in form_page.url
    return post_form(browser, form_page, {
        "title": title, "assignment_name": "Unit 3", "qualification": "CIPD",
        "permitted_uses": ["reading", "planning", "criteria"], "guidance": ""})


def test_teacher_places_the_tool_by_deep_linking(app: Flask, registered: Any, moodle: Any,
                                                 browser: FormBrowser) -> None:
    result = _deep_link(app, browser, moodle, "Unit 3 assignment")
    assert result.status_code == 200, result.text
    (outcome,) = moodle.deep_link_results
    assert outcome.ok, outcome.message
    assert outcome.claims["iss"] == registered.client_id
    assert outcome.claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == (
        registered.deployment_id)
    activity = max(moodle.activities.values(), key=lambda a: a.id)
    assert activity.title == "Unit 3 assignment"
    items = moodle.activity_items(activity.id)
    assert items and items[0].score_maximum == 1
    # Moodle names the activity's own grade item after the activity, not the lineItem label.
    assert items[0].label == "Unit 3 assignment"
    review = moodle.review_item(activity.id)
    assert review is not None and review.submission_review
    assert review.submission_review["url"] == app.config["BASE_URL"] + "/lti/launch"


def test_deep_linking_response_survives_a_key_rotation(app: Flask, registered: Any,
                                                       moodle: Any, browser: FormBrowser,
                                                       keys_dir: Any) -> None:
    assert _deep_link(app, browser, moodle, "Before rotation").status_code == 200
    KeyStore(keys_dir).rotate()
    with FormBrowser() as second:
        assert _deep_link(app, second, moodle, "After rotation").status_code == 200
    assert len(moodle.deep_link_results) == 2


def test_learner_deep_linking_launch_is_forbidden(app: Flask, registered: Any, moodle: Any,
                                                  browser: FormBrowser) -> None:
    # Moodle itself would not offer a learner "Select content"; forge the role to be sure.
    def as_learner(header: dict[str, Any], claims: dict[str, Any]) -> None:
        claims["https://purl.imsglobal.org/spec/lti/claim/roles"] = [
            "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]

    moodle.tamper = as_learner
    auth_page = start_launch(browser, moodle, "marker1", message_type=DL)
    before = row_counts(app)
    answer = browser.follow(auth_page)
    assert answer.status_code == 403
    assert "Only teachers" in answer.text
    assert row_counts(app) == before


def test_marker_review_opens_the_learner_panel(app: Flask, registered: Any, moodle: Any,
                                               browser: FormBrowser) -> None:
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1")
    page = launch(browser, moodle, "marker1", message_type=REVIEW, for_user="learner1")
    assert page.status_code == 200, page.text
    assert "/learners/" in page.url and "Lena Learner" in page.text
    # The learner panel: stage, incidents, authorisations, declarations, and recording.
    for section in ("Stage under the policy", "No incidents recorded.",
                    "No AI tool authorisations", "Declarations for this assignment",
                    "Record an incident for this assignment"):
        assert section in page.text


@pytest.mark.parametrize("opened_before", [False, True])
def test_review_without_lineitem_claim_still_opens(app: Flask, registered: Any, moodle: Any,
                                                   browser: FormBrowser,
                                                   opened_before: bool) -> None:
    activity = moodle.add_activity(2, title="Two items", client_id=registered.client_id,
                                   line_items=2)
    if opened_before:
        with FormBrowser() as learner:
            launch(learner, moodle, "learner2", activity.id)

    def check(header: dict[str, Any], claims: dict[str, Any]) -> None:
        ags = claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"]
        assert "lineitem" not in ags

    moodle.tamper = check
    page = launch(browser, moodle, "marker1", activity.id, message_type=REVIEW,
                  for_user="learner2")
    assert page.status_code == 200, page.text
    if opened_before:  # the panel, for this placement, found without the lineitem claim
        assert "/learners/" in page.url and "Liam Learnwell" in page.text
        assert "Two items" in page.text and "Record an incident" in page.text
    else:
        assert "/review/4" in page.url  # learner2 has not opened the tool yet


def test_view_results_without_for_user_opens_the_placement(app: Flask, registered: Any,
                                                           moodle: Any,
                                                           browser: FormBrowser) -> None:
    page = launch(browser, moodle, "marker1", message_type=REVIEW, for_user=None)
    assert page.status_code == 200, page.text
    assert "/staff/placements/" in page.url and "/review/" not in page.url


@pytest.mark.parametrize("for_user,status", [("learner2", 403), ("learner1", 200)])
def test_learner_may_only_review_themselves(app: Flask, registered: Any, moodle: Any,
                                            browser: FormBrowser, for_user: str,
                                            status: int) -> None:
    auth_page = start_launch(browser, moodle, "learner1", message_type=REVIEW,
                             for_user=for_user)
    before = row_counts(app)
    answer = browser.follow_all(browser.follow(auth_page))
    assert answer.status_code == status, answer.text
    if status == 403:
        assert "only review your own" in answer.text
        assert row_counts(app) == before
    else:
        assert "/learner/placements/" in answer.url
