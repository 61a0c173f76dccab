"""The subject-access export: a ZIP with everything about one learner (JSON valid against
the shipped schema, a readable PDF, the evidence files), without confidential staff notes
or other learners' data (and saying so); by an administrator or by the learner themselves,
refused for anyone else; every export audited."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import jsonschema
import sqlalchemy as sa
from flask import Flask
from pypdf import PdfReader

from lti_tool.audit.models import AuditEvent
from lti_tool.cases.models import Incident
from lti_tool.extensions import db
from lti_tool.privacy import export
from tests.cases.flows import PDF, person_id
from tests.conftest import row_counts
from tests.privacy.conftest import (
    ANSWER,
    APPEAL_TEXT,
    CONFIDENTIAL_NOTE,
    Everything,
    appeal_with_a_file,
)
from tests.support.browser import FormBrowser, launch
from tests.support.pages import post_form


def _open(content: bytes) -> tuple[dict[str, Any], str, zipfile.ZipFile]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    data = json.loads(archive.read("my-data.json"))
    pdf = PdfReader(io.BytesIO(archive.read("my-data.pdf")))
    text = " ".join(" ".join((page.extract_text() or "").split()) for page in pdf.pages)
    return data, text, archive


def _valid(data: dict[str, Any]) -> None:
    schema = export.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(data)


def _admin_export(app: Flask, moodle: Any, subject_id: int) -> Any:
    with FormBrowser() as admin:
        launch(admin, moodle, "admin")
        page = admin.open(f"{app.config['BASE_URL']}/admin/privacy/people/{subject_id}")
        assert page.status_code == 200, page.text
        answer = post_form(admin, page, {}, action=f"{app.config['BASE_URL']}/admin/privacy/"
                                                     f"people/{subject_id}/export")
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["Content-Type"] == "application/zip"
    assert "attachment" in answer.headers["Content-Disposition"]
    return answer


def test_the_admin_export_holds_every_record_and_leaves_out_notes_and_others(
        app: Flask, everything: Everything, moodle: Any) -> None:
    answer = _admin_export(app, moodle, everything.learner_id)
    data, pdf_text, archive = _open(answer.content)
    _valid(data)
    assert data["person"]["name"] == "Lena Learner" and data["requested_by"] == "administrator"
    for section in ("courses", "declarations", "comprehension_attempts", "made_aware",
                    "ai_tool_requests", "cases", "stage_ledger", "emails", "audit_events"):
        assert data[section], f"{section} is empty"
    assert data["appeals"] == []  # learner1 has not appealed (see below)
    assert len(data["declarations"]) == 3
    assert [d["authentication"]["signature"] for d in data["declarations"]
            if d["authentication"]] == ["Lena Learner"]
    assert data["comprehension_attempts"][0]["passed"] is True
    (request,) = data["ai_tool_requests"]
    assert request["reason_detail"] == "I have dyslexia and an agreed reasonable adjustment."
    assert request["decisions"][0]["outcome"] == "approved"
    (case,) = data["cases"]
    assert case["answer"]["text"] == ANSWER and case["outcome"] == "upheld"
    (letter,) = case["letters"]  # the decision letter, as the learner was sent it
    assert letter["sections"] and "upheld" in json.dumps(letter).lower()
    assert data["stage_ledger"][0]["stage"] == 1
    (evidence_file,) = [e for e in case["evidence"] if e["file_in_export"]]
    assert archive.read(evidence_file["file_in_export"]) == PDF
    assert any("question about your work" in (e["subject"] or "") for e in data["emails"])

    everything_written = json.dumps(data) + pdf_text
    assert CONFIDENTIAL_NOTE not in everything_written  # a confidential staff note
    assert "Liam" not in everything_written and "Learnwell" not in everything_written
    assert "Learner 2's work" not in everything_written
    left_out = [item["what"] for item in data["left_out"]]
    assert "Staff deliberation notes on your cases (1)" in left_out
    assert "Other people's personal data" in left_out

    # The PDF is the same, readable.
    for words in ("Your data held by AIU", "Lena Learner", "Microsoft Copilot",
                  "What this export leaves out, and why", "Staff deliberation notes"):
        assert words in pdf_text, words
    assert ANSWER[:30] in pdf_text

    with app.app_context():
        audited = db.session.scalar(sa.select(AuditEvent).where(
            AuditEvent.action == "privacy.exported"))
        assert audited is not None and audited.object_id == str(everything.learner_id)
        assert audited.actor == f"person:{person_id(app, '2')}"


def test_a_learner_exports_their_own_data_from_any_launch_and_no_one_elses(
        app: Flask, everything: Everything, moodle: Any) -> None:
    base = app.config["BASE_URL"]
    with FormBrowser() as learner:
        page = launch(learner, moodle, "learner1", everything.courses.cmi.id)
        assert "How AIU uses your information" in page.text  # the footer link
        notice = learner.open(base + "/privacy/")
        assert notice.status_code == 200 and "Download my data" in notice.text
        mine = post_form(learner, notice, {}, action=base + "/privacy/my-data?person_id="
                         f"{everything.other_id}")
        assert mine.status_code == 200 and mine.headers["Content-Type"] == "application/zip"
        data, _, _ = _open(mine.content)
        _valid(data)
        assert data["person"]["id"] == everything.learner_id  # never the one in the URL
        assert data["requested_by"] == "learner"

        before = row_counts(app)
        for target in (everything.other_id, everything.learner_id):
            refused = post_form(learner, notice, {},
                                action=f"{base}/admin/privacy/people/{target}/export")
            assert refused.status_code == 403
            assert learner.open(f"{base}/admin/privacy/people/{target}").status_code == 403
        assert row_counts(app) == before
    with FormBrowser() as marker:  # a staff launch exports the marker's own data
        launch(marker, moodle, "marker1", everything.courses.cipd.id)
        notice = marker.open(base + "/privacy/")
        theirs = post_form(marker, notice, {}, action=base + "/privacy/my-data")
        data, _, _ = _open(theirs.content)
        assert data["person"]["id"] == person_id(app, "5") and data["cases"] == []
    with FormBrowser() as stranger:  # no launch: no data
        notice = stranger.open(base + "/privacy/")
        assert notice.status_code == 200 and "/privacy/my-data" not in notice.text
        assert stranger.request("POST", base + "/privacy/my-data").status_code in (400, 401)
    with app.app_context():
        exported = list(db.session.scalars(sa.select(AuditEvent.object_id).where(
            AuditEvent.action == "privacy.exported").order_by(AuditEvent.id)))
        assert exported == [str(everything.learner_id), str(person_id(app, "5"))]


def test_the_export_holds_the_learners_appeal_and_files_and_not_withheld_evidence(
        app: Flask, everything: Everything, moodle: Any) -> None:
    appeal_with_a_file(app, moodle, everything)
    data, pdf_text, archive = _open(_admin_export(app, moodle, everything.learner_id).content)
    _valid(data)
    (appeal,) = data["appeals"]
    assert appeal["case"] == everything.case_id and appeal["text"] == APPEAL_TEXT
    assert appeal["grounds"] == ["There is new evidence"]  # in words, not the form's code
    assert appeal["state"] == "Waiting for a reviewer"
    (case,) = data["cases"]
    (mine,) = case["your_files"]
    assert mine["for"] == "appeal" and mine["filename"] == "my-drafts.pdf"
    assert archive.read(mine["file_in_export"]) == PDF
    assert APPEAL_TEXT[:30] in pdf_text

    # Evidence staff withheld (with a reason) on learner2's open case stays out of learner2's
    # export, and the export says that something was left out.
    base = app.config["BASE_URL"]
    with FormBrowser() as marker:
        launch(marker, moodle, "marker1", everything.courses.cipd.id)
        url = f"{base}/staff/placements/{_placement_of(app, everything.other_case_id)}" \
              f"/incidents/{everything.other_case_id}"
        added = post_form(marker, marker.open(url), {
            "evidence-label": "Witness statement", "evidence-text": "Secret witness text.",
            "evidence-withheld": "y", "evidence-withheld_reason": "It names the witness."},
            action=url + "/evidence")
        assert added.status_code == 200, added.text
    data, pdf_text, _ = _open(_admin_export(app, moodle, everything.other_id).content)
    _valid(data)
    assert "Secret witness text." not in json.dumps(data) + pdf_text
    assert "Evidence staff did not disclose to you (1)" in [i["what"] for i in data["left_out"]]


def _placement_of(app: Flask, case_id: int) -> int:
    with app.app_context():
        case = db.session.get(Incident, case_id)
        assert case is not None
        return int(case.placement_id)
