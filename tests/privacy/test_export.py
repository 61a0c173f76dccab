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
from lti_tool.extensions import db
from lti_tool.privacy import export
from tests.cases.flows import PDF, person_id
from tests.conftest import row_counts
from tests.privacy.conftest import ANSWER, CONFIDENTIAL_NOTE, Everything
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
    assert data["appeals"] == []  # the tool records no appeals yet
    assert len(data["declarations"]) == 3
    assert [d["authentication"]["signature"] for d in data["declarations"]
            if d["authentication"]] == ["Lena Learner"]
    assert data["comprehension_attempts"][0]["passed"] is True
    (request,) = data["ai_tool_requests"]
    assert request["reason_detail"] == "I have dyslexia and an agreed reasonable adjustment."
    assert request["decisions"][0]["outcome"] == "approved"
    (case,) = data["cases"]
    assert case["answer"]["text"] == ANSWER and case["outcome"] == "upheld"
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
