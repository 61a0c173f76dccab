"""Launches through the stand-in: claim sets shaped like Moodle 4.5's captures."""

from __future__ import annotations

from typing import Any

import pytest

from lti_tool.demo.platform import LaunchRefused, MoodleStandIn, ToolRegistration
from tests.demo.conftest import capture
from tests.support.browser import FormBrowser, launch
from tests.support.fake_tool import FakeTool

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"


def launched(browser: FormBrowser, standin: MoodleStandIn, user: str, *args: Any,
             **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = launch(browser, standin, user, *args, **kwargs).json()
    assert result["ok"], result
    assert result["state_cookie_ok"], "the partitioned SameSite=None state cookie was lost"
    return result


def test_learner_launch_has_the_captured_claim_set(
        standin: MoodleStandIn, registration: ToolRegistration, fake_tool: FakeTool,
        form_browser: FormBrowser) -> None:
    result = launched(form_browser, standin, "learner1")
    claims, header = result["claims"], result["header"]
    recorded = capture("learner_launch.json")["claims"]
    assert list(claims) == list(recorded)
    assert header["kid"] == standin.keys.current.kid and header["alg"] == "RS256"
    assert claims["exp"] - claims["iat"] == 60
    assert claims["aud"] == registration.client_id
    assert claims["sub"] == "3"
    assert claims[LTI + "deployment_id"] == registration.deployment_id == "1"
    assert claims[LTI + "roles"] == recorded[LTI + "roles"]
    assert claims[LTI + "context"] == recorded[LTI + "context"]
    assert claims[LTI + "lis"] == recorded[LTI + "lis"]
    assert claims[LTI + "tool_platform"] == recorded[LTI + "tool_platform"]
    assert claims[LTI + "resource_link"]["id"] == "1"
    assert "sesskey=" in claims[LTI + "launch_presentation"]["return_url"]
    assert claims[AGS]["lineitem"].endswith("/mod/lti/services.php/2/lineitems/3/lineitem"
                                            "?type_id=1")
    assert claims[AGS]["scope"] == recorded[AGS]["scope"]
    assert claims[NRPS]["context_memberships_url"] == claims[LTI + "custom"][
        "context_memberships_url"]
    login = fake_tool.logins[-1]
    assert set(login) == set(capture("oidc_login_initiation_learner.json")["params"])
    assert login["lti_message_hint"].startswith('{"cmid":2,"launchid":"ltilaunch1_')


def test_admin_and_noneditingteacher_roles(standin: MoodleStandIn,
                                           registration: ToolRegistration,
                                           form_browser: FormBrowser) -> None:
    admin = launched(form_browser, standin, "admin")["claims"]
    assert admin[LTI + "roles"] == capture("admin_launch.json")["claims"][LTI + "roles"]
    assert admin[LTI + "lis"]["person_sourcedid"] == ""
    als = launched(form_browser, standin, "als1")["claims"]
    assert als[LTI + "roles"] == [
        "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]


def test_lineitem_claim_omitted_when_the_link_has_two_line_items(
        standin: MoodleStandIn, registration: ToolRegistration,
        form_browser: FormBrowser) -> None:
    activity = standin.add_activity(2, title="Two items", line_items=2)
    claims = launched(form_browser, standin, "learner1", activity.id)["claims"]
    assert "lineitem" not in claims[AGS]
    assert claims[AGS]["lineitems"].endswith("/2/lineitems?type_id=1")


def test_custom_parameters_are_substituted_and_keys_mapped(
        standin: MoodleStandIn, fake_tool: FakeTool, form_browser: FormBrowser) -> None:
    fake_tool.register_on(standin, custom_parameters={
        "context_id_sub": "$Context.id", "user_username_sub": "$User.username",
        "ReviewMode": "x", "unknown": "$Not.a.variable"})
    custom = launched(form_browser, standin, "learner2")["claims"][LTI + "custom"]
    assert custom["context_id_sub"] == "2"
    assert custom["user_username_sub"] == "learner2"
    assert custom["reviewmode"] == "x" and custom["ReviewMode"] == "x"
    assert custom["unknown"] == "$Not.a.variable"


def test_deep_linking_request(standin: MoodleStandIn, registration: ToolRegistration,
                              form_browser: FormBrowser) -> None:
    claims = launched(form_browser, standin, "marker1",
                      message_type="LtiDeepLinkingRequest")["claims"]
    recorded = capture("deep_linking_request.json")["claims"]
    assert list(claims) == list(recorded)
    assert claims[LTI + "message_type"] == "LtiDeepLinkingRequest"
    assert claims[LTI + "launch_presentation"] == {"locale": "en"}
    settings = claims[DL_SETTINGS]
    assert settings["deep_link_return_url"].startswith(
        standin.url("/mod/lti/contentitem_return.php?course=2&id=1&sesskey="))
    assert {k: v for k, v in settings.items() if k != "deep_link_return_url"} == {
        k: v for k, v in recorded[DL_SETTINGS].items() if k != "deep_link_return_url"}
    assert "lineitem" not in claims[AGS]


def test_deep_linking_needs_an_editing_role(standin: MoodleStandIn,
                                            registration: ToolRegistration) -> None:
    with pytest.raises(LaunchRefused):
        standin.login_initiation("learner1", message_type="LtiDeepLinkingRequest")


def test_submission_review_with_and_without_for_user(
        standin: MoodleStandIn, registration: ToolRegistration,
        form_browser: FormBrowser) -> None:
    claims = launched(form_browser, standin, "marker1", 1,
                      message_type="LtiSubmissionReviewRequest", for_user="learner1")["claims"]
    assert list(claims) == list(capture("submission_review_request.json")["claims"])
    assert claims[LTI + "for_user"] == {"user_id": "3"}
    assert claims["sub"] == "5"
    view_results = launched(form_browser, standin, "marker1", 1,
                            message_type="LtiSubmissionReviewRequest")["claims"]
    assert LTI + "for_user" not in view_results


def test_pending_tool_cannot_be_launched_until_activated(
        standin: MoodleStandIn, fake_tool: FakeTool, form_browser: FormBrowser) -> None:
    registration = fake_tool.register_on(standin, active=False)
    assert registration.status == "pending"
    with pytest.raises(LaunchRefused, match="pending"):
        standin.login_initiation("learner1")
    standin.activate(registration.client_id)
    assert launched(form_browser, standin, "learner1")["claims"]["sub"] == "3"


def test_user_outside_the_course_is_refused(standin: MoodleStandIn,
                                            registration: ToolRegistration) -> None:
    with pytest.raises(LaunchRefused):
        standin.login_initiation("learner3", 1)
    url, fields = standin.login_initiation("learner3", 2)
    assert fields["login_hint"] == "7"


def test_tool_on_another_site_keeps_its_partitioned_cookie_in_the_iframe(
        standin: MoodleStandIn) -> None:
    tool = FakeTool(public_host="localhost")
    try:
        tool.register_on(standin)
        with FormBrowser(timeout=5) as browser:
            assert launched(browser, standin, "learner1")["claims"]["sub"] == "3"
            cookie = browser.cookie("lti_state")
            assert cookie is not None and cookie.secure
    finally:
        tool.shutdown()
