"""AGS on the stand-in: line items, scores (409, clearing), results, media types, scopes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from lti_tool.demo.model import (
    SCOPE_LINEITEM_RO,
    SCOPE_RESULT,
    SCOPE_SCORE,
)
from lti_tool.demo.platform import MoodleStandIn, ToolRegistration
from tests.demo.conftest import capture

CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
SCORE = "application/vnd.ims.lis.v1.score+json"
RESULTS = "application/vnd.ims.lis.v2.resultcontainer+json"


class Ags:
    def __init__(self, standin: MoodleStandIn, registration: ToolRegistration,
                 scopes: list[str] | None = None) -> None:
        self.standin = standin
        self.token = standin.issue_access_token(registration.client_id, scopes)
        self.lineitems = standin.url("/mod/lti/services.php/2/lineitems?type_id=1")

    def call(self, method: str, url: str, *, accept: str | None = None,
             content_type: str | None = None, body: Any = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        if accept:
            headers["Accept"] = accept
        if content_type:
            headers["Content-Type"] = content_type
        data = json.dumps(body) if body is not None else None
        return requests.request(method, url, headers=headers, data=data, timeout=5)

    def score(self, item_url: str, **fields: Any) -> requests.Response:
        body = {"userId": "3", "activityProgress": "Completed",
                "gradingProgress": "FullyGraded", "timestamp": "2026-11-27T05:39:35.848+00:00"}
        body.update(fields)
        url = item_url.replace("/lineitem?", "/lineitem/scores?")
        return self.call("POST", url, content_type=SCORE, body=body)


@pytest.fixture
def ags(standin: MoodleStandIn, registration: ToolRegistration) -> Ags:
    return Ags(standin, registration)


def item_url(standin: MoodleStandIn, item_id: int) -> str:
    return standin.url(f"/mod/lti/services.php/2/lineitems/{item_id}/lineitem?type_id=1")


def test_lineitems_listing_and_filters(ags: Ags, standin: MoodleStandIn) -> None:
    response = ags.call("GET", ags.lineitems, accept=CONTAINER)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTAINER + "; charset=utf-8"
    recorded = capture("ags_nrps/02_lineitems_get.json")["response"]["body"][0]
    first = response.json()[0]
    assert list(first) == list(recorded)
    assert first == {**recorded, "id": item_url(standin, 3)}
    assert ags.call("GET", ags.lineitems + "&tag=nothing", accept=CONTAINER).json() == []
    assert len(ags.call("GET", ags.lineitems + "&resource_link_id=1",
                        accept=CONTAINER).json()) == 1


def test_lineitems_get_with_a_wildcard_accept_is_a_400_like_moodle(ags: Ags) -> None:
    assert ags.call("GET", ags.lineitems, accept="*/*").status_code == 400
    assert ags.call("GET", ags.lineitems, accept="application/json").status_code == 400


def test_lineitem_post_echoes_and_binds_but_drops_submission_review(
        ags: Ags, standin: MoodleStandIn) -> None:
    body = capture("ags_nrps/03_lineitem_post.json")["request"]["body"]
    response = ags.call("POST", ags.lineitems, content_type=LINEITEM, accept=LINEITEM,
                        body=body)
    assert response.status_code == 201
    created = response.json()
    assert {k: v for k, v in created.items() if k != "id"} == body
    new_id = int(created["id"].split("/lineitems/")[1].split("/")[0])
    stored = ags.call("GET", created["id"], accept=LINEITEM).json()
    assert "submissionReview" not in stored and stored["resourceLinkId"] == "1"
    assert standin.line_items[new_id].kind == "manual"
    assert len(standin.bound_line_items(1)) == 2  # launches now omit "lineitem"
    missing = ags.call("POST", ags.lineitems, content_type=LINEITEM, body={"label": "x"})
    assert missing.status_code == 400
    assert missing.json()["reason"] == "No label or Score Maximum"
    foreign = ags.call("POST", ags.lineitems, content_type=LINEITEM,
                       body={"label": "x", "scoreMaximum": 5, "resourceLinkId": "2"})
    assert foreign.status_code == 403  # link 2 is in course 3


def test_put_keeps_submission_review_only_on_tool_created_items(
        ags: Ags, standin: MoodleStandIn) -> None:
    review = {"url": "http://tool.test/review", "custom": {"mode": "put"}}
    manual = ags.call("POST", ags.lineitems, content_type=LINEITEM,
                      body={"label": "Extra", "scoreMaximum": 20, "resourceLinkId": "1"}).json()
    put = ags.call("PUT", manual["id"], content_type=LINEITEM,
                   body={"label": "Extra", "scoreMaximum": 20, "submissionReview": review})
    assert put.status_code == 200
    assert ags.call("GET", manual["id"], accept=LINEITEM).json()["submissionReview"] == review
    own = item_url(standin, 3)
    ags.call("PUT", own, content_type=LINEITEM,
             body={"label": "Renamed", "scoreMaximum": 100, "submissionReview": review})
    readback = ags.call("GET", own, accept=LINEITEM).json()
    assert readback["label"] == "Renamed" and "submissionReview" not in readback
    assert ags.call("DELETE", own).status_code == 403
    assert ags.call("DELETE", manual["id"]).status_code == 204


def test_scores_409_on_a_timestamp_not_later_to_the_second(ags: Ags,
                                                           standin: MoodleStandIn) -> None:
    url = item_url(standin, 3)
    first = ags.score(url, scoreGiven=73, scoreMaximum=100, comment="Good",
                      timestamp="2026-11-27T05:39:35.100+00:00")
    assert first.status_code == 200 and first.text == ""
    assert first.headers["Content-Type"] == SCORE + "; charset=utf-8"
    same_second = ags.score(url, scoreGiven=80, scoreMaximum=100,
                            timestamp="2026-11-27T05:39:35.900+00:00")
    assert same_second.status_code == 409
    assert same_second.json()["reason"] == (
        "Refusing score with an earlier timestamp for item 3 and user 3")
    later = ags.score(url, scoreGiven=8, scoreMaximum=10, timestamp="2026-11-27T05:39:36Z")
    assert later.status_code == 200
    grade = standin.grade_for(3, "learner1")
    assert grade is not None and grade.final_grade == 80 and grade["scoreGiven"] == 8
    assert grade.comment is None  # the later score had no comment


def test_a_score_that_is_not_fully_graded_clears_the_grade(ags: Ags,
                                                           standin: MoodleStandIn) -> None:
    url = item_url(standin, 3)
    ags.score(url, scoreGiven=50, scoreMaximum=100, timestamp="2026-01-01T00:00:00Z")
    assert ags.score(url, scoreGiven=60, scoreMaximum=100, gradingProgress="Pending",
                     comment="Being marked", timestamp="2026-01-01T00:00:05Z").status_code == 200
    grade = standin.grade_for(3, 3)
    assert grade is not None and grade.final_grade is None and grade.score_given is None
    assert grade.comment == "Being marked" and grade["gradingProgress"] == "Pending"
    results = ags.call("GET", url.replace("/lineitem?", "/lineitem/results?"),
                       accept=RESULTS).json()
    assert results == [{"id": url.replace("/lineitem?", "/lineitem/results?") + "&user_id=3",
                        "userId": "3"}]


def test_results_shape(ags: Ags, standin: MoodleStandIn) -> None:
    url = item_url(standin, 3)
    ags.score(url, scoreGiven=73, scoreMaximum=100, comment="Sample score on activity line item",
              timestamp="2026-11-27T05:39:35.900+00:00")
    ags.score(url, userId="4", scoreGiven=0, scoreMaximum=100,
              timestamp="2026-11-27T05:39:35.900+00:00")
    results = ags.call("GET", url.replace("/lineitem?", "/lineitem/results?"),
                       accept=RESULTS).json()
    recorded = capture("ags_nrps/06b_results_get_activity_item.json")["response"]["body"][0]
    assert results[0] == {**recorded, "id": results[0]["id"], "scoreOf": url}
    assert "resultScore" not in results[1]  # a 0 grade


@pytest.mark.parametrize(("content_type", "status"), [
    ("application/json", 400),
    (SCORE + "; charset=utf-8", 400),
    ("application/vnd.ims.lis.v1.scorecontainer+json", 400),
])
def test_score_media_type_must_be_exact(content_type: str, status: int, ags: Ags,
                                        standin: MoodleStandIn) -> None:
    url = item_url(standin, 3).replace("/lineitem?", "/lineitem/scores?")
    body = {"userId": "3", "activityProgress": "Completed", "gradingProgress": "FullyGraded",
            "timestamp": "2026-11-27T05:39:35Z", "scoreGiven": 1, "scoreMaximum": 1}
    assert ags.call("POST", url, content_type=content_type, body=body).status_code == status


def test_score_validation(ags: Ags, standin: MoodleStandIn) -> None:
    url = item_url(standin, 3)
    assert ags.score(url, timestamp="yesterday").status_code == 400
    assert ags.score(url, userId="5").status_code == 400  # a marker is not gradable
    assert ags.score(url, activityProgress=None).status_code == 400
    other_course = standin.url("/mod/lti/services.php/2/lineitems/4/lineitem?type_id=1")
    assert ags.score(other_course).status_code == 403


def test_tokens_and_scopes(standin: MoodleStandIn, registration: ToolRegistration) -> None:
    readonly = Ags(standin, registration, [SCOPE_LINEITEM_RO])
    response = readonly.score(item_url(standin, 3), scoreGiven=1, scoreMaximum=1)
    assert response.status_code == 401
    recorded = capture("ags_nrps/08_score_post_with_readonly_token.json")["response"]["body"]
    answer = response.json()
    assert answer == {**recorded, "request": {**recorded["request"],
                                              "url": answer["request"]["url"]}}
    assert answer["request"]["url"] == "/mod/lti/services.php/2/lineitems/3/lineitem/scores"\
        "?type_id=1"
    assert readonly.call("GET", readonly.lineitems, accept=CONTAINER).status_code == 200
    results_only = Ags(standin, registration, [SCOPE_RESULT])
    assert results_only.call("GET", results_only.lineitems, accept=CONTAINER).status_code == 401
    full = Ags(standin, registration, [SCOPE_SCORE])
    no_type = full.call("GET", standin.url("/mod/lti/services.php/2/lineitems"),
                        accept=CONTAINER)
    assert no_type.status_code == 401
    full.token = "not-a-token"
    assert full.score(item_url(standin, 3), scoreGiven=1).status_code == 401


def test_lineitems_paging_link_header(ags: Ags, standin: MoodleStandIn) -> None:
    for n in range(3):
        standin.add_line_item(2, label=f"Extra {n}", resource_link_id=1)
    response = ags.call("GET", ags.lineitems + "&limit=2", accept=CONTAINER)
    assert len(response.json()) == 2
    link = response.headers["Link"].encode("latin-1").decode("utf-8")
    assert "rel=“next”" in link and "from=2" in link and "&amp;" in link
