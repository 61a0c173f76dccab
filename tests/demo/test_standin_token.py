"""token.php: client-credentials grant with a signed assertion, answered like Moodle."""

from __future__ import annotations

import json

from lti_tool.demo.keys import RsaKey
from lti_tool.demo.model import SCOPE_LINEITEM, SCOPE_NRPS, SCOPE_SCORE
from lti_tool.demo.platform import MoodleStandIn, ToolRegistration
from tests.support.fake_tool import FakeTool

TOOL_CONFIG = "https://purl.imsglobal.org/spec/lti-tool-configuration"


def test_good_assertion_gets_a_bearer_token(standin: MoodleStandIn,
                                            registration: ToolRegistration,
                                            fake_tool: FakeTool) -> None:
    scopes = [SCOPE_LINEITEM, SCOPE_SCORE, "https://example.test/unsupported", SCOPE_NRPS]
    response = fake_tool.request_token(standin, registration.client_id, scopes)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"  # as Moodle
    body = json.loads(response.text)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == " ".join([SCOPE_LINEITEM, SCOPE_SCORE, SCOPE_NRPS])
    assert len(body["access_token"]) == 32
    logged = standin.requests_log[-1]
    assert logged.path == "/mod/lti/token.php" and logged.form["grant_type"] == (
        "client_credentials") and logged.status == 200


def test_kid_less_assertion_is_refused_with_moodles_broken_json(
        standin: MoodleStandIn, registration: ToolRegistration, fake_tool: FakeTool) -> None:
    assertion = fake_tool.client_assertion(registration.client_id,
                                           standin.url("/mod/lti/token.php"), kid=False)
    response = fake_tool.request_token(standin, registration.client_id, [SCOPE_SCORE],
                                       assertion=assertion)
    assert response.status_code == 400
    assert response.text == '{\n  "error" : ""kid" empty, unable to lookup correct key"\n}'


def test_unknown_kid_refetches_the_tool_keyset_once(standin: MoodleStandIn,
                                                    registration: ToolRegistration,
                                                    fake_tool: FakeTool) -> None:
    assert fake_tool.request_token(standin, registration.client_id,
                                   [SCOPE_SCORE]).status_code == 200
    assert fake_tool.jwks_hits == 1
    assert fake_tool.request_token(standin, registration.client_id,
                                   [SCOPE_SCORE]).status_code == 200
    assert fake_tool.jwks_hits == 1  # cached
    fake_tool.key = RsaKey.generate()
    fake_tool.keys.insert(0, fake_tool.key)  # rotated, old key still published
    assert fake_tool.request_token(standin, registration.client_id,
                                   [SCOPE_SCORE]).status_code == 200
    assert fake_tool.jwks_hits == 2
    stranger = RsaKey.generate()
    token_url = standin.url("/mod/lti/token.php")
    forged = fake_tool.sign({"iss": registration.client_id, "sub": registration.client_id,
                             "aud": token_url, "exp": 2**31, "jti": "x"}, key=stranger)
    response = fake_tool.request_token(standin, registration.client_id, [SCOPE_SCORE],
                                       assertion=forged)
    assert response.status_code == 400
    assert '""kid" invalid, unable to lookup correct key"' in response.text
    assert fake_tool.jwks_hits == 3


def test_refusals(standin: MoodleStandIn, registration: ToolRegistration,
                  fake_tool: FakeTool) -> None:
    token_url = standin.url("/mod/lti/token.php")
    cid = registration.client_id

    def error(assertion: str | None = None, scopes: list[str] | None = None) -> str:
        response = fake_tool.request_token(standin, cid, scopes or [SCOPE_SCORE],
                                           assertion=assertion)
        assert response.status_code == 400
        return response.text

    assert '"invalid_scope"' in error(scopes=["https://example.test/nothing"])
    assert '"Expired token"' in error(fake_tool.client_assertion(cid, token_url, exp=1000))
    assert "aud must be" in error(fake_tool.client_assertion(cid, token_url,
                                                             aud="https://elsewhere"))
    assert "jti is required" in error(fake_tool.client_assertion(cid, token_url, jti=None))
    stranger = fake_tool.client_assertion("nobody", token_url, sub="nobody")
    assert '"invalid_client"' in error(stranger)
    listed = fake_tool.client_assertion(cid, token_url, aud=[token_url, "https://x"])
    assert fake_tool.request_token(standin, cid, [SCOPE_SCORE],
                                   assertion=listed).status_code == 200
    standin.strict_assertions = False  # Moodle itself does not look at aud
    lax = fake_tool.client_assertion(cid, token_url, aud="https://elsewhere")
    assert fake_tool.request_token(standin, cid, [SCOPE_SCORE], assertion=lax).status_code == 200
