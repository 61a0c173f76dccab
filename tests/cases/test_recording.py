"""Recording an incident from the learner's panel: each detection source, evidence (text and
files), planned checks, refused files and validation errors (nothing half-written)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from lti_tool.cases.models import (
    AWAITING_ANSWER,
    EVIDENCE_DETECTION,
    EVIDENCE_FILE,
    AuthenticityCheck,
    EvidenceItem,
    IncidentEvent,
)
from lti_tool.extensions import db
from tests.cases.conftest import UPLOAD_LIMIT
from tests.cases.flows import (
    CHECKER,
    PDF,
    Courses,
    incident_url,
    incidents,
    panel,
    record,
)
from tests.conftest import row_counts
from tests.support.browser import FormBrowser, launch
from tests.support.pages import csrf, post_form


def _docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def test_checker_result_is_evidence_not_a_verdict_and_files_download_safely(
        app: Flask, declared: Courses, moodle: Any, browser: FormBrowser) -> None:
    page = panel(browser, moodle, "marker1", declared.cipd.id, "learner1")
    assert "Record an incident" in page.text
    done = record(browser, page, result="82% likely AI-generated (report TII-4471)",
                  extra={"evidence_label": "Draft from week 3",
                         "evidence_text": "The draft reads very differently.",
                         "planned_checks": ["professional discussion", "questioning"]},
                  files={"evidence_file": ("draft.pdf", PDF, "application/pdf")})
    assert done.status_code == 200, done.text
    assert "/incidents/" in done.url and "Incident recorded" in done.text
    assert "not a verdict" in done.text and "82% likely AI-generated" in done.text
    assert "Professional discussion: planned" in done.text
    (incident,) = incidents(app)
    assert incident.source == "checker" and incident.checker == CHECKER
    assert incident.state == AWAITING_ANSWER
    with app.app_context():
        items = list(db.session.scalars(sa.select(EvidenceItem).order_by(EvidenceItem.id)))
        assert [i.kind for i in items] == [EVIDENCE_DETECTION, EVIDENCE_FILE]
        assert "not a verdict" in items[0].label
        assert items[1].sha256 == hashlib.sha256(PDF).hexdigest()
        assert items[1].label == "Draft from week 3"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthenticityCheck)) == 2
        kinds = list(db.session.scalars(sa.select(IncidentEvent.kind).order_by(
            IncidentEvent.seq)))
        assert kinds == ["raised", "evidence_added", "evidence_added", "check_planned",
                         "check_planned", "learner_asked"]
        file_id = items[1].id
    download_url = incident_url(done) + f"/evidence/{file_id}"
    download = browser.open(download_url)
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "draft.pdf" in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Type"] == "application/pdf"
    assert "no-store" in download.headers["Cache-Control"]
    # Not web-served: no session, a learner, or staff of the other course get nothing.
    assert requests.get(download_url, timeout=10).status_code == 401
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1", declared.cipd.id)
        assert learner.open(download_url).status_code == 403
    with FormBrowser() as other_marker:
        launch(other_marker, moodle, "marker2", declared.cmi.id)
        assert other_marker.open(download_url).status_code == 403


def test_own_observation_with_text_evidence(app: Flask, declared: Courses, moodle: Any,
                                            browser: FormBrowser) -> None:
    page = panel(browser, moodle, "marker1", declared.cipd.id, "learner1")
    done = record(browser, page, source="observation", result="",
                  observations="Sources cited do not exist.",
                  extra={"evidence_text": "Reference 4 and 7 cannot be found anywhere."})
    assert done.status_code == 200, done.text
    assert "The marker's own observation" in done.text
    (incident,) = incidents(app)
    assert incident.source == "observation" and incident.checker is None
    with app.app_context():
        (item,) = db.session.scalars(sa.select(EvidenceItem))
        assert item.kind == "text" and "Reference 4" in item.text


def test_more_evidence_and_checks_on_the_incident_page(app: Flask, declared: Courses,
                                                       moodle: Any,
                                                       browser: FormBrowser) -> None:
    page = panel(browser, moodle, "marker1", declared.cipd.id, "learner1")
    url = incident_url(record(browser, page))
    detail = browser.open(url)
    added = post_form(browser, detail, {"evidence-label": "Learner's earlier essay"},
                      action=url + "/evidence",
                      files={"evidence-file": ("essay.docx", _docx(), "application/msword")})
    assert added.status_code == 200 and "Evidence added." in added.text
    planned = post_form(browser, added, {"plan-method": "observation",
                                         "plan-planned_for": "2026-06-01",
                                         "plan-assessor": "Maria Marker"},
                        action=url + "/checks")
    assert "Authenticity check planned." in planned.text
    with app.app_context():
        check_id = db.session.scalar(sa.select(AuthenticityCheck.id))
    bad = post_form(browser, planned, {f"check{check_id}-done_on": "2026-06-02"},
                    action=url + f"/checks/{check_id}")
    assert bad.status_code == 400
    assert "Enter who carried out the check." in bad.text and "There is a problem" in bad.text
    recorded = post_form(browser, planned, {
        f"check{check_id}-done_on": "2026-06-02", f"check{check_id}-conducted_by": "Maria",
        f"check{check_id}-outcome": "concerns",
        f"check{check_id}-notes": "Could not explain key terms."},
        action=url + f"/checks/{check_id}")
    assert recorded.status_code == 200, recorded.text
    assert "Observation: done 02 June 2026" in recorded.text
    assert "Raises concerns about authenticity" in recorded.text
    changed = {f"check{check_id}-done_on": "2026-06-03",
               f"check{check_id}-conducted_by": "Maria",
               f"check{check_id}-outcome": "supports", f"check{check_id}-notes": "Changed"}
    # The old page sent again: its one-time key already acted, so the first answer comes back.
    again = post_form(browser, planned, changed, action=url + f"/checks/{check_id}")
    assert again.status_code == 200 and "Raises concerns about authenticity" in again.text
    assert "Changed" not in again.text
    # A fresh key cannot record it twice either: done once; a correction is a note.
    again = browser.request("POST", url + f"/checks/{check_id}", initiator=planned.url, data={
        **changed, "csrf_token": csrf(planned), "submission_key": "k" * 43})
    assert again.status_code == 409
    noted = post_form(browser, recorded, {"note-text": "The check was on 3 June, not 2 June.",
                                          "note-corrects": "5"}, action=url + "/notes")
    assert "Correction to" in noted.text and "step 5" in noted.text


REFUSED = [
    ("a program", "tool.exe", b"MZ\x90\x00", "must be a PDF, Word (.docx), text, PNG or JPEG"),
    ("a disguised file", "report.pdf", b"<html>not a pdf</html>", "content is not PDF"),
    ("a binary text file", "notes.txt", b"abc\x00def", "content is not text"),
    ("an empty file", "empty.png", b"", "The file is empty."),
    ("too large", "big.txt", b"a" * (UPLOAD_LIMIT + 1), "must be 390 KB or smaller"),
]


@pytest.mark.parametrize("name,filename,content,message", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_files_write_nothing(app: Flask, declared: Courses, moodle: Any,
                                     browser: FormBrowser, name: str, filename: str,
                                     content: bytes, message: str) -> None:
    page = panel(browser, moodle, "marker1", declared.cipd.id, "learner1")
    form = browser.open(page.url + "/incidents/new")
    before = row_counts(app)
    answer = post_form(browser, form, {"source": CHECKER, "checker_result": "40%",
                                       "observations": "Odd phrasing."},
                       files={"evidence_file": (filename, content, "application/octet-stream")})
    assert answer.status_code == 400, answer.text
    assert message in answer.text
    assert 'id="evidence_file-error"' in answer.text  # next to the field
    assert row_counts(app) == before


def test_uploads_above_the_request_limit_only_on_evidence_pages(
        app: Flask, declared: Courses, moodle: Any, browser: FormBrowser) -> None:
    big = b"%PDF-1.7\n" + b"0" * 300_000  # larger than MAX_CONTENT_LENGTH (256 KiB)
    page = panel(browser, moodle, "marker1", declared.cipd.id, "learner1")
    done = record(browser, page, files={"evidence_file": ("scan.pdf", big, "application/pdf")})
    assert done.status_code == 200, done.text
    # The launch endpoint (and every other page) keeps the 256 KiB limit.
    launch_post = requests.post(app.config["BASE_URL"] + "/lti/launch",
                                data={"id_token": "x" * 300_000, "state": "s"}, timeout=10)
    assert launch_post.status_code == 413


INVALID = [
    ("no source", {"source": ""}, "Choose where the concern came from."),
    ("checker without its result", {"checker_result": ""}, "score or report reference."),
    ("no observations", {"observations": ""}, "Describe what you observed in the work."),
    ("an unauthorised checker", {"source": "GPTZero"}, "Not a valid choice"),
]


@pytest.mark.parametrize("name,change,message", INVALID, ids=[i[0] for i in INVALID])
def test_validation_errors_are_shown_and_nothing_is_written(
        app: Flask, declared: Courses, moodle: Any, browser: FormBrowser, name: str,
        change: dict[str, str], message: str) -> None:
    page = panel(browser, moodle, "marker1", declared.cipd.id, "learner1")
    form = browser.open(page.url + "/incidents/new")
    before = row_counts(app)
    fields = {"source": CHECKER, "checker_result": "50%", "observations": "Odd.", **change}
    answer = post_form(browser, form, {k: v for k, v in fields.items() if v})
    assert answer.status_code == 400
    assert message in answer.text
    assert "There is a problem" in answer.text and 'class="error-message"' in answer.text
    assert row_counts(app) == before


def test_learners_and_other_courses_cannot_record(app: Flask, declared: Courses, moodle: Any,
                                                  browser: FormBrowser) -> None:
    page = panel(browser, moodle, "marker1", declared.cipd.id, "learner1")
    new_url = page.url + "/incidents/new"
    with FormBrowser() as learner:
        launch(learner, moodle, "learner2", declared.cipd.id)
        assert learner.open(new_url).status_code == 403
    with FormBrowser() as learner3:
        launch(learner3, moodle, "learner3", declared.cmi.id)
    # learner3 is only in course 3: marker1 (course 2) cannot open their panel.
    with app.app_context():
        from lti_tool.people.models import Person

        learner3_id = db.session.scalar(sa.select(Person.id).where(Person.sub == "7"))
    other = browser.open(page.url.rsplit("/", 1)[0] + f"/{learner3_id}")
    assert other.status_code == 404
