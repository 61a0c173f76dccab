"""The two ways in: the course dashboard a staff launch opens (sortable, filterable, a fixed
number of queries) and the learner panel (from the dashboard or Moodle's "Grade analysis"),
with full detail only for courses the viewer teaches."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.cases.dashboard import DashboardQuery, course_dashboard
from lti_tool.cases.models import IncidentEvent
from lti_tool.extensions import db
from lti_tool.people.models import Course, Placement
from lti_tool.policy import service as policies
from tests.cases.flows import (
    PDF,
    Courses,
    decide,
    incident_url,
    incidents,
    panel,
    record,
)
from tests.conftest import row_counts
from tests.support.browser import FormBrowser, launch
from tests.support.pages import post_form


def _rows(page: Any) -> list[str]:
    body = page.text.split("<tbody>")[1].split("</tbody>")[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
            for row in body.split("<tr>")[1:]]


def test_dashboard_shows_incidents_and_stages_sorted_and_filtered(
        app: Flask, declared: Courses, moodle: Any, browser: FormBrowser) -> None:
    with FormBrowser() as learner2:
        launch(learner2, moodle, "learner2", declared.cipd.id)
    url = incident_url(record(browser, panel(browser, moodle, "marker1", declared.cipd.id,
                                             "learner1")))
    decide(browser, url, without_answer="y")
    record(browser, panel(browser, moodle, "marker1", declared.cipd.id, "learner1"),
           observations="Another assignment section.")
    dashboard = launch(browser, moodle, "marker1", declared.cipd.id)
    assert dashboard.status_code == 200
    rows = _rows(dashboard)
    lena = next(r for r in rows if r.startswith("Lena Learner"))
    assert "1 open" in lena and "1 awaiting the learner's answer" in lena and "Stage 1" in lena
    liam = next(r for r in rows if r.startswith("Liam Learnwell"))
    assert liam.endswith("None None")
    base = dashboard.url.split("?")[0]
    only_open = _rows(browser.open(base + "?incidents=open"))
    assert len(only_open) == 1 and only_open[0].startswith("Lena Learner")
    not_declared = _rows(browser.open(base + "?declaration=not-declared"))
    assert [r.split(" ")[0] for r in not_declared] == ["Liam"]
    clean = _rows(browser.open(base + "?incidents=none"))
    assert [r.split(" ")[0] for r in clean] == ["Liam"]
    by_name_desc = browser.open(base + "?sort=name&order=desc")
    assert [r.split(" ")[0] for r in _rows(by_name_desc)] == ["Liam", "Lena"]
    assert 'aria-sort="descending"' in by_name_desc.text
    by_stage = _rows(browser.open(base + "?sort=stage&order=desc"))
    assert by_stage[0].startswith("Lena")
    nonsense = browser.open(base + "?sort=drop+table&order=sideways&incidents=%3Cx%3E")
    assert nonsense.status_code == 200 and len(_rows(nonsense)) == 2
    assert "Lena Learner" in nonsense.text


def test_dashboard_queries_do_not_grow_with_the_course(app: Flask, declared: Courses,
                                                       moodle: Any,
                                                       browser: FormBrowser) -> None:
    for n in range(6):
        moodle.add_user(f"extra{n}", "Extra", f"Learner{n}")
        moodle.enrol(2, f"extra{n}")
        with FormBrowser() as learner:
            launch(learner, moodle, f"extra{n}", declared.cipd.id)
        if n % 2:
            record(browser, panel(browser, moodle, "marker1", declared.cipd.id, f"extra{n}"))
    launch(browser, moodle, "marker1", declared.cipd.id)
    with app.app_context():
        placement = db.session.scalar(sa.select(Placement).join(Course).where(
            Course.context_id == "2"))
        assert placement is not None
        course = placement.course
        policy = policies.current_or_bundled()
        statements: list[str] = []
        sa.event.listen(db.engine, "before_cursor_execute",
                        lambda *a: statements.append(a[2]))
        every, shown = course_dashboard(course, placement, policy,
                                        DashboardQuery(sort="stage", descending=True))
        assert len(every) >= 8 and sum(r.incidents.open_count for r in every) == 3
        # roster, people, declarations, authorisations and two incident queries
        assert len(statements) <= 6, statements


def test_panel_from_the_dashboard_and_from_grade_analysis(
        app: Flask, declared: Courses, moodle: Any, browser: FormBrowser) -> None:
    dashboard = launch(browser, moodle, "marker1", declared.cipd.id)
    link = re.search(r'href="((?:/l/[\w-]+)?/staff/placements/\d+/learners/\d+)">Lena Learner',
                     dashboard.text)
    assert link
    from_dashboard = browser.open(app.config["BASE_URL"] + link.group(1))
    with FormBrowser() as marker:
        from_review = panel(marker, moodle, "marker1", declared.cipd.id, "learner1")
    for page in (from_dashboard, from_review):
        assert page.status_code == 200
        assert "Current stage: <strong>none</strong>" in page.text
        assert "reaches <strong>Stage 1</strong>" in page.text
        assert "Work will be marked, and you will be advised" in page.text  # policy words
        assert "No AI tool authorisations" in page.text
        assert "Declarations for this assignment" in page.text
        assert "Unit 7 declaration · CMI L5 Management and Leadership" in page.text
        assert "No incidents recorded." in page.text


def test_staff_of_another_course_get_only_a_summary(app: Flask, declared: Courses,
                                                    moodle: Any,
                                                    browser: FormBrowser) -> None:
    url = incident_url(record(browser, panel(browser, moodle, "marker2", declared.cmi.id,
                                             "learner1"),
                              observations="Confidential observation text.",
                              files={"evidence_file": ("notes.pdf", PDF, "application/pdf")}))
    detail = browser.open(url)
    assert "Confidential observation text." in detail.text
    download = re.search(r'href="([^"]+/evidence/\d+)"', detail.text)
    assert download
    decide(browser, url, without_answer="y")
    with FormBrowser() as marker1:
        page = panel(marker1, moodle, "marker1", declared.cipd.id, "learner1")
        assert "CMI L5 Management and Leadership" in page.text
        assert "Summary only: another course" in page.text
        assert "Upheld" in page.text and "Stage 1" in page.text
        assert "Confidential observation text." not in page.text
        assert "/incidents/" not in page.text.split('id="incidents-heading"')[1].split(
            "</section>")[0]
        # Even with the address, the incident itself stays closed to them: it is not of
        # this placement's course (nor is its evidence).
        base = page.url.split("/learners/")[0]
        incident_id = url.rsplit("/", 1)[1]
        other = marker1.open(f"{base}/incidents/{incident_id}")
        assert other.status_code == 404
        assert marker1.open(app.config["BASE_URL"] + download.group(1)).status_code == 403
        before = row_counts(app)
        form = marker1.open(page.url + "/incidents/new")  # a page with a CSRF token
        refused = post_form(marker1, form, {"note-text": "Sneaky"},
                            action=f"{base}/incidents/{incident_id}/notes")
        assert refused.status_code == 404
        assert row_counts(app) == before
    with FormBrowser() as admin:
        page = panel(admin, moodle, "admin", declared.cipd.id, "learner1")
        assert "Summary only" not in page.text
        assert "open it from that course in Moodle" in page.text
        assert admin.open(f"{page.url.split('/learners/')[0]}/incidents/{incident_id}"
                          ).status_code == 404
        page = panel(admin, moodle, "admin", declared.cmi.id, "learner1")
        full = admin.open(f"{page.url.split('/learners/')[0]}/incidents/{incident_id}")
        assert full.status_code == 200 and "Confidential observation text." in full.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent).where(
            IncidentEvent.kind == "note_added")) == 0
    assert incidents(app)[0].stage == 1
