"""Access follows Moodle as it is now: a marker removed from a course loses its cases at once
(a Names and Roles refresh) or within the stated bound; every object a placement URL names
belongs to that placement's course; nobody acts on a case about themselves; the review
redirect answers only for people of the marker's course."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from lti_tool.cases.access import (
    ACTIONS as CASE_ACTIONS,
)
from lti_tool.cases.access import (
    APPEAL_REVIEW,
    DECIDE,
    NOTE,
    check_may_act,
    conflict_of_interest,
)
from lti_tool.cases.errors import ConflictOfInterest
from lti_tool.cases.models import AuthenticityCheck, Incident, IncidentEvent
from lti_tool.demo.model import EDITING_TEACHER
from lti_tool.demo.platform import LaunchRefused
from lti_tool.extensions import db
from lti_tool.people.models import Course, CourseRole, Person
from tests.cases.flows import (
    PDF,
    Courses,
    decide,
    incident_url,
    incidents,
    panel,
    person_id,
    record,
)
from tests.conftest import row_counts
from tests.support.browser import FormBrowser, launch
from tests.support.pages import platform_id, post_form, text

# Every action on an incident page, as (path under the incident, fields).
ACTIONS: list[tuple[str, dict[str, str]]] = [
    ("/notes", {"note-text": "Written from the wrong course"}),
    ("/decision", {"decision-outcome": "not_upheld", "decision-reasons": "No.",
                   "decision-expected_stage": "2", "decision-without_answer": "y"}),
    ("/withdraw", {"withdraw-reason": "Withdrawn from the wrong course"}),
    ("/checks", {"plan-method": "observation"}),
    ("/evidence", {"evidence-label": "More", "evidence-text": "Added from the wrong course"}),
    ("/follow-up", {"followup-result": "reported", "followup-notes": "x",
                    "followup-done_on": "2026-01-01"}),
]


def _cmi_incident(app: Flask, moodle: Any, courses: Courses) -> tuple[str, str, int]:
    """marker2 records an incident about learner1 in course 3 (CMI) with a file and a
    planned check, and upholds it: (incident URL, evidence download path, check id)."""
    with FormBrowser() as marker2:
        url = incident_url(record(marker2, panel(marker2, moodle, "marker2", courses.cmi.id,
                                                 "learner1"),
                                  observations="Confidential CMI observation.",
                                  extra={"planned_checks": "questioning"},
                                  files={"evidence_file": ("notes.pdf", PDF,
                                                           "application/pdf")}))
        page = marker2.open(url)
        download = re.search(r'href="((?:/l/[\w-]+)?/staff/[^"]+/evidence/\d+)"', page.text)
        assert download
        assert decide(marker2, url, without_answer="y").status_code == 200
    with app.app_context():
        check_id = db.session.scalar(sa.select(AuthenticityCheck.id))
    return url, download.group(1), int(check_id)


def _refused_everywhere(app: Flask, browser: FormBrowser, base: str, incident_id: int,
                        download: str, check_id: int, page: Any, status: int) -> None:
    """Every page and action on the incident answers ``status`` and writes nothing."""
    before = row_counts(app)
    assert browser.open(f"{base}/incidents/{incident_id}").status_code == status
    evidence_id = download.rsplit("/", 1)[1]
    answer = browser.open(f"{base}/incidents/{incident_id}/evidence/{evidence_id}")
    assert answer.status_code == status and b"%PDF" not in answer.content
    for path, fields in [*ACTIONS, (f"/checks/{check_id}", {
            f"check{check_id}-done_on": "2026-01-01", f"check{check_id}-conducted_by": "x",
            f"check{check_id}-outcome": "supports", f"check{check_id}-notes": "x"})]:
        refused = post_form(browser, page, fields,
                            action=f"{base}/incidents/{incident_id}{path}")
        assert refused.status_code == status, (path, refused.status_code)
        assert "Confidential CMI observation." not in refused.text
    assert row_counts(app) == before


def test_a_marker_removed_from_a_course_loses_its_cases(app: Flask, declared: Courses,
                                                        moodle: Any) -> None:
    moodle.enrol(3, "marker1", EDITING_TEACHER)
    url, download, check_id = _cmi_incident(app, moodle, declared)
    incident_id = int(url.rsplit("/", 1)[1])
    with FormBrowser() as in_a:
        # marker1 teaches course 3 and opens the case there.
        panel_a = panel(in_a, moodle, "marker1", declared.cmi.id, "learner1")
        form_a = in_a.open(panel_a.url + "/incidents/new")  # a page with a CSRF token
        assert "Confidential CMI observation." in in_a.open(url).text
        moodle.unenrol(3, "marker1")
        with pytest.raises(LaunchRefused):
            moodle.login_initiation("marker1", declared.cmi.id)
        with FormBrowser() as in_b:
            panel_b = panel(in_b, moodle, "marker1", declared.cipd.id, "learner1")
            base_b = panel_b.url.split("/learners/")[0]
            # The cross-course summary and the stage still show in course 2...
            assert "CMI L5 Management and Leadership" in panel_b.text
            assert "Current stage: <strong>Stage 1</strong>" in panel_b.text
            assert "Confidential CMI observation." not in panel_b.text
            # ...but no object of course 3 is reachable through course 2's placement.
            _refused_everywhere(app, in_b, base_b, incident_id, download, check_id,
                                in_b.open(panel_b.url + "/incidents/new"), 404)

            # marker2 refreshes course 3's roster: Moodle no longer lists marker1.
            with FormBrowser() as marker2:
                dashboard = launch(marker2, moodle, "marker2", declared.cmi.id)
                post_form(marker2, dashboard, {}, action=dashboard.url + "/roster")
            with app.app_context():
                row = db.session.get(CourseRole, (person_id(app, "5"), _course_id(app, "3")))
                assert row is not None and row.revoked_at is not None
            panel_b = in_b.open(panel_b.url)
            assert "Summary only: another course" in panel_b.text
            pack = in_b.open(panel_b.url + "/report.pdf")
            assert pack.status_code == 403 and "courses you do not teach" in pack.text
        # The session marker1 opened in course 3 before the removal ends at once too.
        before = row_counts(app)
        refused = in_a.open(url)
        assert refused.status_code == 403 and "no longer confirms your role" in refused.text
        assert post_form(in_a, form_a, {"note-text": "After removal"},
                         action=url + "/notes").status_code == 403
        assert row_counts(app) == before
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent).where(
            IncidentEvent.kind == "note_added")) == 0
    assert incidents(app)[0].outcome == "upheld"


def _course_id(app: Flask, context_id: str) -> int:
    with app.app_context():
        found = db.session.scalar(sa.select(Course.id).where(Course.context_id == context_id))
        assert found is not None
        return int(found)


def test_an_unconfirmed_role_stops_counting_after_the_bound(app: Flask, declared: Courses,
                                                            moodle: Any) -> None:
    moodle.enrol(3, "marker1", EDITING_TEACHER)
    url, _, _ = _cmi_incident(app, moodle, declared)
    with FormBrowser() as in_a:
        panel(in_a, moodle, "marker1", declared.cmi.id, "learner1")
        moodle.unenrol(3, "marker1")  # and nobody refreshes course 3's roster
        with FormBrowser() as in_b:
            panel_b = panel(in_b, moodle, "marker1", declared.cipd.id, "learner1")
            # Within the bound the role still counts (as the README states)...
            assert in_b.open(panel_b.url + "/report.pdf").status_code == 200
            # ...and once Moodle has not confirmed it for longer than the bound, it does not.
            hours = float(app.config.get("COURSE_ROLE_MAX_AGE_HOURS", 8))
            with app.app_context():
                row = db.session.get(CourseRole, (person_id(app, "5"), _course_id(app, "3")))
                assert row is not None
                row.confirmed_at -= timedelta(hours=hours, minutes=1)
                db.session.commit()
            panel_b = in_b.open(panel_b.url)
            assert "Summary only: another course" in panel_b.text
            assert in_b.open(panel_b.url + "/report.pdf").status_code == 403
        answer = in_a.open(url)
        assert answer.status_code == 403 and "no longer confirms your role" in answer.text


def test_objects_of_another_course_are_404_even_for_those_who_see_everything(
        app: Flask, declared: Courses, moodle: Any) -> None:
    url, download, check_id = _cmi_incident(app, moodle, declared)
    incident_id = int(url.rsplit("/", 1)[1])
    with FormBrowser() as learner3:
        launch(learner3, moodle, "learner3", course_id=3)  # in course 3 only
    with FormBrowser() as admin:
        page = panel(admin, moodle, "admin", declared.cipd.id, "learner1")
        base = page.url.split("/learners/")[0]
        _refused_everywhere(app, admin, base, incident_id, download, check_id,
                            admin.open(page.url + "/incidents/new"), 404)
        assert "open it from that course in Moodle" in page.text
        learner3_id = person_id(app, "7")
        for path in (f"/learners/{learner3_id}", f"/learners/{learner3_id}/report.pdf",
                     f"/learners/{learner3_id}/incidents/new"):
            assert admin.open(base + path).status_code == 404, path
        # From the incident's own course, the administrator sees it in full.
        with FormBrowser() as in_course:
            page = panel(in_course, moodle, "admin", declared.cmi.id, "learner1")
            full = in_course.open(url)
            assert full.status_code == 200 and "Confidential CMI observation." in full.text
    # Evidence of one incident is not reachable through another incident's address.
    with FormBrowser() as marker1:
        own = incident_url(record(marker1, panel(marker1, moodle, "marker1", declared.cipd.id,
                                                 "learner1")))
        evidence_id = download.rsplit("/", 1)[1]
        assert marker1.open(f"{own}/evidence/{evidence_id}").status_code == 404
        before = row_counts(app)
        refused = post_form(marker1, marker1.open(own), {
            f"check{check_id}-done_on": "2026-01-01", f"check{check_id}-conducted_by": "x",
            f"check{check_id}-outcome": "supports", f"check{check_id}-notes": "x"},
            action=f"{own}/checks/{check_id}")
        assert refused.status_code == 404
        assert row_counts(app) == before


def _grant_als(app: Flask, runner: FlaskCliRunner, sub: str) -> None:
    result = runner.invoke(args=["roles", "grant-als", "--platform", str(platform_id(app)),
                                 "--user-id", sub])
    assert result.exit_code == 0, result.output


def test_the_subject_of_an_incident_cannot_open_or_decide_it(
        app: Flask, declared: Courses, moodle: Any, runner: FlaskCliRunner) -> None:
    _grant_als(app, runner, "6")  # als1 is in the ALS team (sees every incident)...
    with FormBrowser() as als1:
        launch(als1, moodle, "als1", declared.cipd.id)  # ...and a teacher of course 2
        with FormBrowser() as marker1:
            dashboard = launch(marker1, moodle, "marker1", declared.cipd.id)
            als_panel = marker1.open(f"{dashboard.url}/learners/{person_id(app, '6')}")
            assert als_panel.status_code == 200
            url = incident_url(record(marker1, als_panel, source="observation",
                                      observations="Concern about als1's own coursework."))
        before = row_counts(app)
        page = als1.open(url)
        assert page.status_code == 403
        assert "This incident is about you" in text(page)
        assert "Concern about als1" not in page.text
        own_panel = als1.open(url.split("/incidents/")[0] + f"/learners/{person_id(app, '6')}")
        assert "Summary only" in own_panel.text and "open the incident" not in own_panel.text
        form = als1.open(own_panel.url + "/incidents/new")  # a page with a CSRF token
        for path, fields in ACTIONS:
            refused = post_form(als1, form, fields, action=url + path)
            assert refused.status_code == 403, path
            assert "This incident is about you" in text(refused)
        assert row_counts(app) == before
    assert incidents(app)[0].outcome is None
    # Someone else decides it.
    with FormBrowser() as marker1:
        launch(marker1, moodle, "marker1", declared.cipd.id)
        assert decide(marker1, url, outcome="not_upheld",
                      without_answer="y").status_code == 200


def test_appeal_reviewers_are_new_to_the_case(app: Flask, declared: Courses, moodle: Any,
                                              runner: FlaskCliRunner) -> None:
    with FormBrowser() as marker2:
        url = incident_url(record(marker2, panel(marker2, moodle, "marker2", declared.cmi.id,
                                                 "learner1")))
        decide(marker2, url, without_answer="y")
    with FormBrowser() as admin:
        launch(admin, moodle, "admin", declared.cmi.id)
    with app.app_context():
        incident = db.session.scalar(sa.select(Incident))
        assert incident is not None
        people = {sub: db.session.get(Person, person_id(app, sub)) for sub in ("2", "3", "8")}
        learner, marker2_person, admin_person = people["3"], people["8"], people["2"]
        assert learner is not None and marker2_person is not None and admin_person
        for action in CASE_ACTIONS:
            assert conflict_of_interest(learner, incident, action)
            assert conflict_of_interest(admin_person, incident, action) is None
        assert conflict_of_interest(marker2_person, incident, DECIDE) is None
        assert "cannot review its appeal" in (conflict_of_interest(
            marker2_person, incident, APPEAL_REVIEW) or "")
        with pytest.raises(ConflictOfInterest):
            check_may_act(learner, incident, NOTE)


def test_review_answers_only_for_people_of_the_course(app: Flask, declared: Courses,
                                                       moodle: Any) -> None:
    with FormBrowser() as learner3:
        launch(learner3, moodle, "learner3", course_id=3)  # in course 3 only
    with FormBrowser() as marker1:
        dashboard = launch(marker1, moodle, "marker1", declared.cipd.id)  # fetches the roster
        base = dashboard.url
        for sub in ("7", "8", "999"):  # a learner and a teacher of course 3, nobody
            seen = len(marker1.history)
            answer = marker1.open(f"{base}/review/{sub}")
            assert all("/learners/" not in r.headers.get("Location", "")
                       for r in marker1.history[seen:]), sub
            assert answer.status_code == 404, sub
        assert marker1.open(f"{base}/review/3").url.endswith(
            f"/learners/{person_id(app, '3')}")
        waiting = marker1.open(f"{base}/review/4")  # in the roster, never launched
        assert waiting.status_code == 200 and "has not opened the tool yet" in waiting.text
