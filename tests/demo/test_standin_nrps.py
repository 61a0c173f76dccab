"""NRPS on the stand-in: members, short roles, filters and paging."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from lti_tool.demo.model import SCOPE_NRPS, SCOPE_SCORE
from lti_tool.demo.platform import MoodleStandIn, ToolRegistration
from tests.demo.conftest import capture

NRPS = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"


@pytest.fixture
def nrps(standin: MoodleStandIn, registration: ToolRegistration
         ) -> Iterator[requests.Session]:
    session = requests.Session()
    token = standin.issue_access_token(registration.client_id, [SCOPE_NRPS])
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": NRPS})
    yield session
    session.close()


def url(standin: MoodleStandIn, query: str = "") -> str:
    return standin.memberships_url(2, 1) + query


def test_members_like_the_capture(standin: MoodleStandIn, nrps: requests.Session) -> None:
    response = nrps.get(url(standin), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == NRPS + "; charset=utf-8"
    recorded = capture("ags_nrps/07_nrps_memberships.json")["response"]["body"]
    assert response.json() == {**recorded, "id": url(standin)}
    assert "Link" not in response.headers


def test_plain_noneditingteacher_is_a_learner_in_nrps(standin: MoodleStandIn,
                                                      nrps: requests.Session) -> None:
    standin.users[6].category_manager = False
    members = nrps.get(url(standin), timeout=5).json()["members"]
    assert {m["user_id"]: m["roles"] for m in members}["6"] == ["Learner"]


def test_role_and_rlid_filters(standin: MoodleStandIn, nrps: requests.Session) -> None:
    learners = nrps.get(url(standin, "?role=http%3A%2F%2Fpurl.imsglobal.org%2Fvocab%2Flis%2Fv2"
                                     "%2Fmembership%23Learner"), timeout=5).json()["members"]
    assert [m["user_id"] for m in learners] == ["3", "4"]
    teachers = nrps.get(url(standin, "?role=Instructor"), timeout=5).json()["members"]
    assert [m["user_id"] for m in teachers] == ["5", "6"]
    linked = nrps.get(url(standin, "?rlid=1"), timeout=5).json()["members"]
    message = linked[0]["message"][0]
    assert message["https://purl.imsglobal.org/spec/lti/claim/message_type"] == (
        "LtiResourceLinkRequest")
    assert "https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome" in message
    assert nrps.get(url(standin, "?rlid=2"), timeout=5).status_code == 404  # course 3's


def test_paging_with_link_next_drops_the_role_filter_like_moodle(
        standin: MoodleStandIn, nrps: requests.Session) -> None:
    first = nrps.get(url(standin, "?limit=3"), timeout=5)
    assert [m["user_id"] for m in first.json()["members"]] == ["3", "4", "5"]
    match = re.fullmatch(r'<([^>]+)>; rel="next"', first.headers["Link"])
    assert match and match.group(1) == url(standin, "?limit=3&from=3")
    second = nrps.get(match.group(1), timeout=5)
    assert [m["user_id"] for m in second.json()["members"]] == ["6"]
    assert "Link" not in second.headers
    filtered = nrps.get(url(standin, "?role=Learner&limit=1"), timeout=5)
    assert filtered.headers["Link"] == f'<{url(standin, "?limit=1&from=1")}>; rel="next"'


def test_nrps_needs_its_scope_and_binding(standin: MoodleStandIn,
                                          registration: ToolRegistration) -> None:
    token = standin.issue_access_token(registration.client_id, [SCOPE_SCORE])
    headers = {"Authorization": f"Bearer {token}", "Accept": NRPS}
    assert requests.get(url(standin), headers=headers, timeout=5).status_code == 401
    good = standin.issue_access_token(registration.client_id, [SCOPE_NRPS])
    other_type = standin.memberships_url(2, 99)
    assert requests.get(other_type, headers={"Authorization": f"Bearer {good}"},
                        timeout=5).status_code == 401
