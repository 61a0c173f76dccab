"""The Stage-3 report pack (PDF and CSV) and the analytics page, through launches."""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from flask import Flask
from pypdf import PdfReader

from lti_tool.audit.models import AuditEvent
from lti_tool.extensions import db
from tests.cases.flows import (
    ACTION_PROFESSIONAL_DISCUSSION,
    Courses,
    decide,
    incident_url,
    panel,
    person_id,
    record,
)
from tests.support.browser import FormBrowser, launch
from tests.support.pages import post_form
from tests.support.vocabulary import codes_in_csv


def _uphold(moodle: Any, marker: str, activity_id: int, **extra: str) -> Any:
    with FormBrowser() as browser:
        url = incident_url(record(browser, panel(browser, moodle, marker, activity_id,
                                                  "learner1")))
        page = decide(browser, url, without_answer="y", **extra)
        assert page.status_code == 200, page.text
        return page, url


def _reach_stage_3(moodle: Any, courses: Courses) -> str:
    """learner1: Stage 1 in course 2, Stage 2 in course 3, Stage 3 in course 2."""
    _uphold(moodle, "marker1", courses.cipd.id)
    page, url = _uphold(moodle, "marker2", courses.cmi.id,
                        stage_action=ACTION_PROFESSIONAL_DISCUSSION)
    with FormBrowser() as marker2:
        launch(marker2, moodle, "marker2", courses.cmi.id)
        second = marker2.open(url)
        post_form(marker2, second, {"followup-result": "satisfactory",
                                    "followup-done_on": "2026-06-10",
                                    "followup-notes": "Explained every section."},
                  action=url + "/follow-up")
    _, third_url = _uphold(moodle, "marker1", courses.cipd.id)
    return third_url


def test_stage3_pack_pdf_and_csv(app: Flask, declared: Courses, moodle: Any) -> None:
    third_url = _reach_stage_3(moodle, declared)
    learner = person_id(app, "3")
    with FormBrowser() as admin:
        page = panel(admin, moodle, "admin", declared.cipd.id, "learner1")
        assert "Download the report pack" in page.text
        base = page.url.split("/learners/")[0]
        pdf = admin.open(f"{base}/learners/{learner}/report.pdf")
        assert pdf.status_code == 200
        assert pdf.headers["Content-Type"] == "application/pdf"
        assert "attachment" in pdf.headers["Content-Disposition"]
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        for expected in ("Report to the awarding body", "Lena Learner", "CIPD",
                         "Leep Talent", "Stage 3", "Every step of each case", "Incident raised",
                         "Decision: upheld, Stage 1", "Decision: upheld, Stage 2",
                         "Decision: upheld, Stage 3", "Maria Marker", "Mark Marshall",
                         "Follow-up recorded", "82% likely AI-generated"):
            assert expected in text, expected
        csv_page = admin.open(f"{base}/learners/{learner}/report.csv")
        assert csv_page.headers["Content-Type"].startswith("text/csv")
        lines = csv_page.text.splitlines()
        assert lines[0] == "Section,Case,Course,Assignment,Item,When,Who,Detail"
        assert sum("Decision: upheld" in line for line in lines) == 3
        assert codes_in_csv(csv_page.text) == set()  # words, never internal codes
        assert any("CMI5" in line or "CMI L5" in line for line in lines)
        # Issue 11: the M1 form's sections B (made aware) and C (declaration, authentication).
        assert any("B. How the learner was made aware of the rules" in line
                   and "First saw the policy" in line for line in lines)
        assert any("C. Declarations and authentication" in line
                   and "Declared before starting" in line for line in lines)
        assert any("Declaration of authentication: not made." in line for line in lines)
        assert "B. How the learner was made aware of the rules" in text
        assert "C. Declarations and authentication" in text
    # Recording the report itself, as the follow-up of the Stage 3 incident.
    with FormBrowser() as marker1:
        launch(marker1, moodle, "marker1", declared.cipd.id)
        incident_page = marker1.open(third_url)
        done = post_form(marker1, incident_page, {
            "followup-result": "reported", "followup-done_on": "2026-11-20",
            "followup-notes": "Reported through the CIPD centre portal."},
            action=third_url + "/follow-up")
        assert done.status_code == 200, done.text
    with FormBrowser() as admin:
        page = panel(admin, moodle, "admin", declared.cipd.id, "learner1")
        base = page.url.split("/learners/")[0]
        pdf = admin.open(f"{base}/learners/{learner}/report.pdf")
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        assert "Reported to the awarding body on 2026-11-20" in text
        assert "recorded by Maria Marker" in text
    with app.app_context():
        generated = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "report_pack.generated"))
        assert generated == 3


def test_staff_of_one_course_cannot_build_the_pack(app: Flask, declared: Courses,
                                                   moodle: Any) -> None:
    _reach_stage_3(moodle, declared)
    learner = person_id(app, "3")
    with FormBrowser() as marker1:
        page = panel(marker1, moodle, "marker1", declared.cipd.id, "learner1")
        base = page.url.split("/learners/")[0]
        refused = marker1.open(f"{base}/learners/{learner}/report.pdf")
        assert refused.status_code == 403
        assert "courses you do not teach" in refused.text


def test_analytics_by_course_over_time_and_declaration_rates(app: Flask, declared: Courses,
                                                             moodle: Any) -> None:
    _uphold(moodle, "marker1", declared.cipd.id)
    with FormBrowser() as marker1:
        overview = launch(marker1, moodle, "marker1", declared.cipd.id)
        page = marker1.open(overview.url + "/analytics")
        assert page.status_code == 200, page.text
        assert "<svg" in page.text and 'role="img"' in page.text
        assert "CIPD L5 People Practice" in page.text
        assert "CMI L5" not in page.text  # staff see their own course only
        assert "1 raised, 1 upheld" in page.text  # in the chart's text alternative
        assert "50 %" in page.text  # learner1 of learner1 + learner2 declared
    with FormBrowser() as admin:
        overview = launch(admin, moodle, "admin", declared.cipd.id)
        page = admin.open(overview.url + "/analytics")
        assert "CMI L5 Management and Leadership" in page.text  # admins see every course
