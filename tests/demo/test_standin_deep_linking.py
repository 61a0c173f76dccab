"""contentitem_return.php: the tool's deep-linking response and what it creates."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from lti_tool.demo.platform import MoodleStandIn, ToolRegistration
from tests.demo.conftest import capture
from tests.support.browser import FormBrowser, launch
from tests.support.fake_tool import FakeTool

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"


def return_url(standin: MoodleStandIn, browser: FormBrowser) -> str:
    claims = launch(browser, standin, "marker1",
                    message_type="LtiDeepLinkingRequest").json()["claims"]
    url: str = claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"][
        "deep_link_return_url"]
    return url


def items(tool: FakeTool) -> list[dict[str, Any]]:
    recorded = capture("deep_linking_request_with_submissionreview_lineitem.json")
    item: dict[str, Any] = recorded["deep_link_response_claims"][
        "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"][0]
    item = {**item, "url": tool.url + "/launch"}
    item["lineItem"]["submissionReview"]["url"] = tool.url + "/launch?review=dl"
    return [item]


def test_deep_linked_activity_with_review(standin: MoodleStandIn,
                                          registration: ToolRegistration,
                                          fake_tool: FakeTool,
                                          form_browser: FormBrowser) -> None:
    url = return_url(standin, form_browser)
    jwt = fake_tool.deep_link_response(standin, registration, items(fake_tool))
    response = requests.post(url, data={"JWT": jwt}, timeout=5)
    assert response.status_code == 200, response.text
    result = standin.deep_link_results[-1]
    assert result.ok and result.course_id == 2 and len(result.activity_ids) == 1
    activity = standin.activities[result.activity_ids[0]]
    assert activity.title == "Sample deep-linked item" and activity.from_deep_linking
    (item,) = standin.bound_line_items(activity.id)
    assert item.label == "Sample deep-linked item"  # Moodle names it after the activity
    assert (item.score_maximum, item.resource_id, item.tag) == (10, "sample-dl-1", "sample")
    assert item.submission_review == {"url": fake_tool.url + "/launch?review=dl",
                                      "custom": {"review_mode": "dl"}}
    learner = launch(form_browser, standin, "learner1", activity.id).json()["claims"]
    assert learner[LTI + "custom"]["dl_item"] == "sample-dl-1"
    assert learner[AGS]["lineitem"].endswith(f"/lineitems/{item.id}/lineitem?type_id=1")
    review = launch(form_browser, standin, "marker1", activity.id,
                    message_type="LtiSubmissionReviewRequest", for_user="learner1")
    claims = review.json()["claims"]
    assert claims[LTI + "target_link_uri"] == fake_tool.url + "/launch?review=dl"
    assert claims[LTI + "custom"]["review_mode"] == "dl"


def test_item_without_line_item_gets_no_grade_item(standin: MoodleStandIn,
                                                   registration: ToolRegistration,
                                                   fake_tool: FakeTool,
                                                   form_browser: FormBrowser) -> None:
    url = return_url(standin, form_browser)
    jwt = fake_tool.deep_link_response(standin, registration, [
        {"type": "ltiResourceLink", "title": "One"}, {"type": "ltiResourceLink", "title": "Two"}])
    assert requests.post(url, data={"JWT": jwt}, timeout=5).status_code == 200
    created = standin.deep_link_results[-1].activity_ids
    assert [standin.activities[a].title for a in created] == ["One", "Two"]
    assert all(not standin.bound_line_items(a) for a in created)


@pytest.mark.parametrize(("case", "message"), [
    ("no_kid", '"kid" empty, unable to lookup correct key'),
    ("wrong_iss", "Consumer key is incorrect."),
    ("off_domain", "Tool URL's domain does not match tool configuration."),
    ("wrong_aud", "Invalid aud"),
    ("wrong_deployment", "Invalid deployment_id"),
    ("wrong_type", "Invalid message_type"),
    ("no_jwt", "A required parameter (oauth_consumer_key) was missing"),
    ("bad_sesskey", "Incorrect sesskey submitted, form not accepted!"),
    ("not_a_link", "Invalid Content-Item response format."),
])
def test_refusals_are_plain_text_400s(case: str, message: str, standin: MoodleStandIn,
                                      registration: ToolRegistration, fake_tool: FakeTool,
                                      form_browser: FormBrowser) -> None:
    url = return_url(standin, form_browser)
    content: list[dict[str, Any]] = [{"type": "ltiResourceLink", "title": "X",
                                      "url": fake_tool.url + "/launch"}]
    kwargs: dict[str, Any] = {}
    if case == "no_kid":
        kwargs["kid"] = False
    elif case == "wrong_iss":
        kwargs["iss"] = "someone-else"
    elif case == "off_domain":
        content[0]["url"] = "http://elsewhere.test/launch"
    elif case == "wrong_aud":
        kwargs["aud"] = ["http://other-moodle.test"]
    elif case == "wrong_deployment":
        kwargs[LTI + "deployment_id"] = "99"
    elif case == "wrong_type":
        kwargs[LTI + "message_type"] = "LtiResourceLinkRequest"
    elif case == "bad_sesskey":
        url = url.split("&sesskey=")[0] + "&sesskey=nope"
    elif case == "not_a_link":
        content = [{"type": "html", "html": "<p>hi</p>"}]
    jwt = fake_tool.deep_link_response(standin, registration, content, **kwargs)
    response = requests.post(url, data={} if case == "no_jwt" else {"JWT": jwt}, timeout=5)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.startswith(message)
    assert not standin.deep_link_results[-1].ok
    assert len(standin.activities) == 2  # only the seeded ones
