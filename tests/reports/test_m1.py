"""The report to the awarding body, shaped like the JCQ M1 form: the PDF (opened with pypdf)
has the centre, the learner, the qualification and unit, sections A to D, page numbers and a
sign-off block; the ZIP beside it holds the evidence files with their SHA-256; the CSV has the
same facts with human labels. Through launches."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from typing import Any

import sqlalchemy as sa
from flask import Flask
from pypdf import PdfReader

from lti_tool.cases.models import EvidenceItem
from lti_tool.extensions import db
from tests.cases.flows import ACTION_PROFESSIONAL_DISCUSSION, PDF, Courses, panel, person_id, uphold
from tests.support.browser import FormBrowser, launch
from tests.support.pages import post_form

DRAFT = b"%PDF-1.4\n% the learner's draft, week 3\n%%EOF\n"


def reach_stage_3(moodle: Any, courses: Courses) -> str:
    """learner1: Stage 1 in the CIPD course, Stage 2 in the CMI course, Stage 3 in the CIPD
    course (each with an evidence file)."""
    uphold(moodle, "marker1", courses.cipd.id,
            files={"evidence_file": ("draft-week3.pdf", DRAFT, "application/pdf")})
    second = uphold(moodle, "marker2", courses.cmi.id,
                     files={"evidence_file": ("notes.pdf", PDF, "application/pdf")},
                     stage_action=ACTION_PROFESSIONAL_DISCUSSION)
    with FormBrowser() as marker2:
        launch(marker2, moodle, "marker2", courses.cmi.id)
        post_form(marker2, marker2.open(second),
                  {"followup-result": "satisfactory", "followup-done_on": "2026-06-10",
                   "followup-notes": "Explained every section."}, action=second + "/follow-up")
    return uphold(moodle, "marker1", courses.cipd.id)


def _pdf_text(content: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(p.extract_text() for p in reader.pages), len(reader.pages)


def test_the_report_is_shaped_like_the_m1_form(app: Flask, declared: Courses,
                                               moodle: Any) -> None:
    app.config.update(CENTRE_NUMBER="12345", CENTRE_CONTACT_NAME="Kelly Pattison, IQA",
                      CENTRE_CONTACT_EMAIL="quality@leep.example")
    reach_stage_3(moodle, declared)
    learner = person_id(app, "3")
    with FormBrowser() as admin:
        page = panel(admin, moodle, "admin", declared.cipd.id, "learner1")
        base = page.url.split("/learners/")[0] + f"/learners/{learner}"
        pdf = admin.open(base + "/report.pdf")
        assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
        text, pages = _pdf_text(pdf.content)
        flat = " ".join(text.split())
        for expected in ("Report to the awarding body", "Centre name", "Leep Talent", "12345",
                         "Kelly Pattison, IQA, quality@leep.example", "Lena Learner",
                         "Learner number (Moodle user id)", "Qualification", "CIPD",
                         "Unit (assignment)", "Unit 1 assignment",
                         "CIPD (Chartered Institute of Personnel and Development)",
                         "A. Nature of the incident", "How it was found",
                         "Turnitin AI writing detection", "82% likely AI-generated",
                         "Raised by Maria Marker",
                         "B. How the learner was made aware of the rules",
                         "First saw the policy for this assignment", "Policy AIU v1.0",
                         "C. Declarations and authentication", "Declared before starting",
                         "Authorisations in force",
                         "D. The learner's answers, checks, decisions and appeals",
                         "Upheld: Stage 1", "Upheld: Stage 2", "Upheld: Stage 3",
                         "Reasons: The answer did not explain", "No appeal was made.",
                         "the case being reported", "Sign-off", "Signature",
                         f"Page 1 of {pages}", f"Page {pages} of {pages}"):
            assert expected in flat, expected
        # The sections come in the form's order.
        order = [flat.index(s) for s in ("A. Nature", "B. How the learner",
                                         "C. Declarations", "D. The learner's", "Sign-off")]
        assert order == sorted(order)

        # The ZIP holds each evidence file with the SHA-256 the PDF gives.
        archive = admin.open(base + "/report.zip")
        assert archive.status_code == 200
        assert archive.headers["Content-Type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
            sums = dict(reversed(line.split("  ", 1)) for line in
                        z.read("SHA256SUMS.txt").decode().splitlines())
            assert len(sums) == 2
            for name, digest in sums.items():
                assert hashlib.sha256(z.read(name)).hexdigest() == digest
                assert digest in "".join(text.split()), name  # the PDF lists the hash
                assert name in "".join(text.split()) or name in flat
        with app.app_context():
            stored = set(db.session.scalars(sa.select(EvidenceItem.sha256).where(
                EvidenceItem.sha256.is_not(None))))
        assert set(sums.values()) == stored
        assert hashlib.sha256(DRAFT).hexdigest() in stored

        # The CSV: the same facts, human labels, never the tool's internal codes.
        sheet = admin.open(base + "/report.csv")
        rows = list(csv.reader(io.StringIO(sheet.text)))
        assert rows[0] == ["Section", "Case", "Course", "Assignment", "Item", "When", "Who",
                           "Detail"]
        sections = {r[0] for r in rows[1:]}
        assert {"Centre", "Learner", "A. Nature of the incident",
                "B. How the learner was made aware of the rules",
                "C. Declarations and authentication",
                "D. The learner's answers, checks, decisions and appeals"} <= sections
        assert any(r[4] == "Centre number" and r[7] == "12345" for r in rows)
        details = [r[7] for r in rows if r[0] == "A. Nature of the incident"]
        assert any(digest in d for d in details for digest in sums.values())
        assert sum(r[4] == "Decision" for r in rows) == 3
        code = re.compile(r"^[a-z]+(_[a-z]+)+$")
        for row in rows[1:]:
            for cell in row:
                assert not code.match(cell), (cell, row)
                assert cell not in ("upheld", "not_upheld", "checker", "observation", "text",
                                    "file", "detection", "closed"), (cell, row)


def test_the_report_goes_to_the_awarding_body_of_the_reportable_case(
        app: Flask, declared: Courses, moodle: Any) -> None:
    """Stage 3 arises in the CMI course: the report names CMI even though earlier cases were
    in the CIPD course."""
    uphold(moodle, "marker1", declared.cipd.id)
    uphold(moodle, "marker1", declared.cipd.id, stage_action=ACTION_PROFESSIONAL_DISCUSSION)
    uphold(moodle, "marker2", declared.cmi.id)
    learner = person_id(app, "3")
    with FormBrowser() as admin:
        page = panel(admin, moodle, "admin", declared.cmi.id, "learner1")
        base = page.url.split("/learners/")[0] + f"/learners/{learner}"
        text, _ = _pdf_text(admin.open(base + "/report.pdf").content)
        flat = " ".join(text.split())
        assert "CMI (Chartered Management Institute)" in flat
        reported = flat[flat.index("Case being reported"):][:200]
        assert "CMI L5 Management and Leadership" in reported, reported
