"""Test hooks of the stand-in, its demo pages, and the FormBrowser's cookie rules."""

from __future__ import annotations

import http.cookiejar
from typing import Any

import pytest
import requests
from requests.cookies import MockRequest, MockResponse

from lti_tool.demo.keys import JwtError, RsaKey, decode_jws, public_keys_from_jwks
from lti_tool.demo.model import SCOPE_SCORE
from lti_tool.demo.platform import MoodleStandIn, ToolRegistration
from tests.support.browser import ChromiumCookiePolicy, FormBrowser, find_auto_form, launch
from tests.support.fake_tool import FakeTool


def certs(standin: MoodleStandIn) -> dict[str, Any]:
    data: dict[str, Any] = requests.get(standin.url("/mod/lti/certs.php"), timeout=5).json()
    return data


def test_tamper_is_applied_once(standin: MoodleStandIn, registration: ToolRegistration,
                                form_browser: FormBrowser) -> None:
    def forge(header: dict[str, Any], claims: dict[str, Any]) -> None:
        claims["iss"] = "https://evil.test"
        header.pop("kid")

    standin.tamper = forge
    result = launch(form_browser, standin, "learner1").json()
    assert result["ok"] is False and result["error"].startswith('"kid" empty')
    assert standin.tamper is None
    assert standin.issued_id_tokens[-1].claims["iss"] == "https://evil.test"
    assert launch(form_browser, standin, "learner1").json()["ok"]


def test_foreign_key_and_rotation(standin: MoodleStandIn, registration: ToolRegistration,
                                  form_browser: FormBrowser) -> None:
    standin.sign_with_key(RsaKey.generate().private_pem())
    result = launch(form_browser, standin, "learner1").json()
    assert result == {**result, "ok": False, "error": "Signature verification failed"}
    standin.sign_with_key(None)
    old_kid = standin.keys.current.kid
    before = standin.jwks_fetch_count
    new_kid = standin.rotate_platform_key()
    assert [k["kid"] for k in certs(standin)["keys"]] == [new_kid, old_kid]
    assert standin.jwks_fetch_count == before + 1
    token = standin.issued_id_tokens[-1].token  # signed with the foreign key, old kid
    with pytest.raises(JwtError):
        decode_jws(token, public_keys_from_jwks(certs(standin)))
    assert launch(form_browser, standin, "learner1").json()["header"]["kid"] == new_kid


def test_fail_next_down_and_delay(standin: MoodleStandIn, registration: ToolRegistration,
                                  fake_tool: FakeTool) -> None:
    standin.fail_next(1, 502, "bad gateway", only="token")
    failed = fake_tool.request_token(standin, registration.client_id, [SCOPE_SCORE])
    assert (failed.status_code, failed.text) == (502, "bad gateway")
    assert fake_tool.request_token(standin, registration.client_id,
                                   [SCOPE_SCORE]).status_code == 200
    standin.down = True
    assert requests.get(standin.url("/mod/lti/certs.php"), timeout=5).status_code == 503
    assert fake_tool.request_token(standin, registration.client_id,
                                   [SCOPE_SCORE]).status_code == 503
    standin.down = False
    standin.delay_seconds = 0.5
    with pytest.raises(requests.Timeout):
        requests.get(standin.url("/mod/lti/certs.php"), timeout=0.1)
    standin.reset_failures()
    assert [r.status for r in standin.requests_log] == [502, 200, 503]


def test_requests_log_records_service_calls(standin: MoodleStandIn,
                                            registration: ToolRegistration) -> None:
    token = standin.issue_access_token(registration.client_id)
    requests.post(standin.url("/mod/lti/services.php/2/lineitems/3/lineitem/scores?type_id=1"),
                  json={"userId": "3"}, headers={"Authorization": f"Bearer {token}"},
                  timeout=5)
    entry = standin.requests_log[-1]
    assert entry.method == "POST" and entry.query == {"type_id": "1"}
    assert entry.content_type == "application/json" and entry.has_authorization
    assert entry.json == {"userId": "3"} and entry.status == 400


def test_demo_pages(standin: MoodleStandIn, registration: ToolRegistration,
                    fake_tool: FakeTool) -> None:
    base = standin.issuer
    with FormBrowser(timeout=5) as browser:
        assert "CIPD L5 People Practice" in browser.open(base + "/").text
        view = browser.open(base + "/mod/lti/view.php?id=2&as=learner1")
        assert '<iframe class="tool"' in view.text and "/mod/lti/launch.php?id=2" in view.text
        frame = browser.get(base + "/mod/lti/launch.php?id=2&as=learner1")
        form = find_auto_form(frame.text, frame.url)
        assert form is not None and form.action == registration.initiate_login_uri
        with browser.framed(base + "/mod/lti/view.php?id=2&as=learner1"):
            assert browser.follow_all(frame).json()["claims"]["sub"] == "3"
        grader = browser.open(base + "/grade/report/grader/index.php?id=2&as=marker1")
        assert "Grade analysis" in grader.text and "/mod/lti/grade.php?id=2" in grader.text
        review = browser.get(base + "/mod/lti/launch.php?id=2&as=marker1"
                             "&type=LtiSubmissionReviewRequest&userid=3")
        result = browser.follow_all(review).json()
        assert result["claims"]["https://purl.imsglobal.org/spec/lti/claim/for_user"] == {
            "user_id": "3"}
        assert browser.open(base + "/admin/tools.php?as=learner1").status_code == 403
        tools = browser.submit(base + "/admin/tools.php?as=admin",
                               {"action": "new", "url": fake_tool.url + "/register"})
        assert "registration_token=" in tools.text and "data-return-url=" in tools.text
        # demo.js (a file: no inline script) returns to the list on org.imsglobal.lti.close.
        script = browser.get(base + "/static/demo.js")
        assert script.status_code == 200 and "org.imsglobal.lti.close" in script.text
        dl = browser.get(base + f"/mod/lti/contentitem.php?id={registration.type_id}&course=2"
                         "&as=marker1")
        assert find_auto_form(dl.text, dl.url) is not None
        refused = browser.get(base + "/mod/lti/launch.php?id=3&as=learner3")
        assert refused.status_code == 200  # learner3 is in course 3 (cmid 3)
        outsider = browser.get(base + "/mod/lti/launch.php?id=2&as=learner3")
        assert outsider.status_code == 400


def _set_cookie(jar: http.cookiejar.CookieJar, url: str, header: str) -> None:
    request = MockRequest(requests.Request("GET", url).prepare())

    class Raw:
        def __init__(self) -> None:
            import email.message

            self._headers = email.message.Message()
            self._headers["Set-Cookie"] = header

    jar.extract_cookies(MockResponse(Raw()._headers), request)  # type: ignore[arg-type]


def _sent(jar: http.cookiejar.CookieJar, url: str) -> str:
    request = MockRequest(requests.Request("GET", url).prepare())
    jar.add_cookie_header(request)  # type: ignore[arg-type]
    return str(request.get_new_headers().get("Cookie", ""))


def test_cookie_policy_is_chromium_like() -> None:
    policy = ChromiumCookiePolicy()
    jar = http.cookiejar.CookieJar(policy)
    _set_cookie(jar, "http://127.0.0.1:5000/", "a=1; Path=/; Secure; SameSite=None")
    _set_cookie(jar, "http://example.test/", "b=2; Path=/; Secure; SameSite=None")
    _set_cookie(jar, "http://example.test/", "c=3; Path=/; SameSite=None")
    assert _sent(jar, "http://127.0.0.1:5000/x") == "a=1"
    assert _sent(jar, "http://example.test/x") == ""
    policy.context.top_level = "http://localhost:8081/view"
    _set_cookie(jar, "http://127.0.0.1:5000/", "lax=1; Path=/")
    _set_cookie(jar, "http://127.0.0.1:5000/", "part=1; Path=/; Secure; SameSite=None; "
                                               "Partitioned")
    assert sorted(_sent(jar, "http://127.0.0.1:5000/x").split("; ")) == ["a=1", "part=1"]
    policy.context.top_level = None
    assert _sent(jar, "http://127.0.0.1:5000/x") == "a=1"  # other partition
