"""Dynamic registration against the stand-in: Moodle's checks and plain-text refusals."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from lti_tool.demo.platform import LaunchRefused, MoodleStandIn
from tests.demo.conftest import capture
from tests.support.browser import FormBrowser, launch
from tests.support.fake_tool import FakeTool

TOOL_CONFIG = "https://purl.imsglobal.org/spec/lti-tool-configuration"


def registration_body(tool: FakeTool) -> dict[str, Any]:
    body = capture("dynamic_registration.json")["registration_post"]["request"]["body"]
    text = json.dumps(body).replace("http://127.0.0.1:5055", tool.url).replace(
        "127.0.0.1:5055", tool.url.split("//")[1])
    result: dict[str, Any] = json.loads(text)
    return result


def begin(standin: MoodleStandIn, **kwargs: Any) -> tuple[str, str]:
    """(openid configuration URL, registration token) from the iframe URL Moodle opens."""
    url = standin.start_registration("http://tool.test/register?x=1", **kwargs)
    query = parse_qs(urlsplit(url).query)
    assert query["x"] == ["1"]
    return query["openid_configuration"][0], query["registration_token"][0]


def post(config_url: str, token: str | None, body: Any) -> requests.Response:
    config = requests.get(config_url, timeout=5).json()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(config["registration_endpoint"], json=body, headers=headers,
                         timeout=5)


def test_openid_configuration(standin: MoodleStandIn) -> None:
    body = requests.get(standin.url("/mod/lti/openid-configuration.php"), timeout=5).json()
    recorded = capture("dynamic_registration.json")["openid_configuration_fetch"]["response"]
    expected = str(recorded["body"]).replace("http://127.0.0.1:8081", standin.issuer)
    assert str(body) == expected


def test_registration_then_activation(standin: MoodleStandIn, fake_tool: FakeTool) -> None:
    config_url, token = begin(standin)
    response = post(config_url, token, registration_body(fake_tool))
    assert response.status_code == 200, response.text
    answer = response.json()
    recorded = capture("dynamic_registration.json")["registration_post"]["response"]["body"]
    assert list(answer) == list(recorded)
    assert list(answer[TOOL_CONFIG]) == list(recorded[TOOL_CONFIG])
    assert answer["scope"] == recorded["scope"]
    assert answer[TOOL_CONFIG]["deployment_id"] == "1"
    tool = standin.tool(answer["client_id"])
    assert tool.status == "pending" and tool.name == "LTI Sample Tool"
    assert tool.custom_parameters["sample_static"] == "hello"
    again = post(config_url, token, registration_body(fake_tool))
    assert (again.status_code, again.text) == (401, "token_already_used")
    standin.activate(tool.client_id)
    with FormBrowser(timeout=5) as browser:
        result = launch(browser, standin, "learner1").json()
    assert result["claims"]["https://purl.imsglobal.org/spec/lti/claim/custom"][
        "sample_static"] == "hello"


def test_pending_registration_refuses_launches(standin: MoodleStandIn,
                                               fake_tool: FakeTool) -> None:
    config_url, token = begin(standin)
    answer = post(config_url, token, registration_body(fake_tool)).json()
    standin.add_activity(2, title="Early", client_id=answer["client_id"])
    with pytest.raises(LaunchRefused):
        standin.login_initiation("learner1", client_id=answer["client_id"])


def test_update_keeps_the_client_id(standin: MoodleStandIn, fake_tool: FakeTool) -> None:
    config_url, token = begin(standin)
    first = post(config_url, token, registration_body(fake_tool)).json()
    assert [t.client_id for t in standin.tools_on_domain(fake_tool.url)] == [first["client_id"]]
    config_url, update_token = begin(standin, update_client_id=first["client_id"])
    body = registration_body(fake_tool)
    body["client_name"] = "Renamed"
    second = post(config_url, update_token, body).json()
    assert second["client_id"] == first["client_id"]
    assert second[TOOL_CONFIG]["deployment_id"] == first[TOOL_CONFIG]["deployment_id"]
    assert standin.tool(first["client_id"]).name == "Renamed"
    config_url, fresh_token = begin(standin)
    third = post(config_url, fresh_token, registration_body(fake_tool)).json()
    assert third["client_id"] != first["client_id"]


def _drop(key: str) -> Any:
    return lambda body: body.pop(key)


def _set(key: str, value: Any, inner: bool = False) -> Any:
    def change(body: dict[str, Any]) -> None:
        (body[TOOL_CONFIG] if inner else body)[key] = value
    return change


@pytest.mark.parametrize(("change", "status", "message"), [
    (_drop("client_name"), 400, "missing required attribute client_name"),
    (_set("response_types", ["code"]), 400, "invalid_response_types"),
    (_set("response_types", []), 400, "missing required attribute response_types"),
    (_set("redirect_uris", "http://x/launch"), 400, "invalid_redirect_uris"),
    (_set("token_endpoint_auth_method", "client_secret_basic"), 400,
     "invalid_token_endpoint_auth_method"),
    (_set("application_type", "native"), 400, "invalid_application_type"),
    (_drop("jwks_uri"), 400, "missing required attribute jwks_uri"),
    (_drop(TOOL_CONFIG), 400, f"missing required attribute {TOOL_CONFIG}"),
    (_set("domain", "elsewhere.test", inner=True), 400, "domain_targetlinkuri_mismatch"),
    (_set("domain", "", inner=True), 400, "missing_domain"),
])
def test_registration_refusals(change: Any, status: int, message: str,
                               standin: MoodleStandIn, fake_tool: FakeTool) -> None:
    config_url, token = begin(standin)
    body = registration_body(fake_tool)
    change(body)
    response = post(config_url, token, body)
    assert (response.status_code, response.text) == (status, message)
    assert not standin.tools


def test_registration_token_problems(standin: MoodleStandIn, fake_tool: FakeTool) -> None:
    config_url, token = begin(standin)
    body = registration_body(fake_tool)
    missing = post(config_url, None, body)
    assert (missing.status_code, missing.text) == (401, "missing_registration_token")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert post(config_url, forged, body).status_code == 401
    assert not standin.tools
