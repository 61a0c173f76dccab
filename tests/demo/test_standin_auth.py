"""auth.php refusals, in Moodle 4.5's order and forms (error page vs auto-POSTed error)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from lti_tool.demo.platform import MoodleStandIn, ToolRegistration
from tests.support.browser import FormBrowser, find_auto_form, start_launch
from tests.support.fake_tool import FakeTool


def auth_answer(browser: FormBrowser, standin: MoodleStandIn) -> requests.Response:
    """The response of auth.php (the tool's login redirects there)."""
    response = start_launch(browser, standin, "learner1")
    assert "/mod/lti/auth.php" in response.url
    return response


@pytest.mark.parametrize("override", [
    {"redirect_uri": "REGISTERED/"},          # not an exact match
    {"scope": "openid profile"},             # checked before the launch is loaded
    {"response_type": "code"},
    {"nonce": None},
    {"lti_message_hint": '{"cmid":2}'},
])
def test_hard_refusals_give_a_400_error_page(
        override: dict[str, str | None], standin: MoodleStandIn,
        registration: ToolRegistration, fake_tool: FakeTool,
        form_browser: FormBrowser) -> None:
    if override.get("redirect_uri") == "REGISTERED/":
        override = {"redirect_uri": fake_tool.url + "/launch/"}
    fake_tool.auth_overrides.update(override)  # type: ignore[arg-type]
    response = auth_answer(form_browser, standin)
    assert response.status_code == 400
    assert "Invalid request" in response.text
    assert find_auto_form(response.text, response.url) is None
    assert standin.last_id_token is None


@pytest.mark.parametrize(("override", "error", "description"), [
    ({"client_id": "someoneelse"}, "unauthorized_client", None),
    ({"login_hint": "4"}, "access_denied", None),
    ({"response_mode": "fragment"}, "invalid_request", "Invalid response_mode"),
    ({"response_mode": None}, "invalid_request", "Invalid response_mode"),
    ({"prompt": "login"}, "invalid_request", "Invalid prompt"),
])
def test_soft_refusals_are_posted_back_to_the_tool(
        override: dict[str, str | None], error: str, description: str | None,
        standin: MoodleStandIn, registration: ToolRegistration, fake_tool: FakeTool,
        form_browser: FormBrowser) -> None:
    fake_tool.auth_overrides.update(override)  # type: ignore[arg-type]
    response = auth_answer(form_browser, standin)
    assert response.status_code == 200
    form = find_auto_form(response.text, response.url)
    assert form is not None and form.method == "POST"
    assert form.action == fake_tool.url + "/launch"
    assert form.fields["error"] == error
    assert form.fields.get("error_description") == description
    assert form.fields["state"] == parse_qs(urlsplit(response.url).query)["state"][0]
    assert "id_token" not in form.fields


def test_missing_prompt_is_accepted_like_moodle(
        standin: MoodleStandIn, registration: ToolRegistration, fake_tool: FakeTool,
        form_browser: FormBrowser) -> None:
    fake_tool.auth_overrides["prompt"] = None  # type: ignore[assignment]
    form = find_auto_form(*_text_url(auth_answer(form_browser, standin)))
    assert form is not None and "id_token" in form.fields


def test_a_launch_is_consumed_once(standin: MoodleStandIn, registration: ToolRegistration,
                                   fake_tool: FakeTool, form_browser: FormBrowser) -> None:
    response = auth_answer(form_browser, standin)
    assert find_auto_form(response.text, response.url) is not None
    replay = requests.get(response.url, timeout=5)
    assert replay.status_code == 400


def test_answer_form_posts_id_token_and_state(standin: MoodleStandIn,
                                              registration: ToolRegistration,
                                              fake_tool: FakeTool,
                                              form_browser: FormBrowser) -> None:
    response = auth_answer(form_browser, standin)
    assert 'name="ltiAuthForm"' in response.text
    form = find_auto_form(response.text, response.url)
    assert form is not None and set(form.fields) == {"id_token", "state"}
    issued = standin.last_id_token
    assert issued is not None and issued.token == form.fields["id_token"]
    assert issued.redirect_uri == fake_tool.url + "/launch"


def _text_url(response: requests.Response) -> tuple[str, str]:
    return response.text, response.url
