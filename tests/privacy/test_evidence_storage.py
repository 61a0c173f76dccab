"""Evidence files in a directory outside the checkout (LTI_TOOL_EVIDENCE_DIR): never
world-readable, served to staff as before, and removed with their case on disposal."""

from __future__ import annotations

import os
import re
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import sqlalchemy as sa
from flask import Flask

from lti_tool import PROJECT_DIR, create_app
from lti_tool.cases.models import EvidenceFile
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.privacy import retention, schedule
from tests.cases.flows import (
    PDF,
    decide,
    declare_as,
    incident_url,
    panel,
    place_both,
    record,
)
from tests.conftest import TEST_SECRET, SmtpSink
from tests.support.browser import FormBrowser


def test_files_live_outside_the_database_private_and_go_with_their_case(
        app: Flask, registered: Any, moodle: Any, smtp: SmtpSink, tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    app.config.update(EVIDENCE_DIR=str(folder), AI_CHECKERS=["Turnitin AI writing detection"])
    courses = place_both(moodle)
    declare_as(moodle, courses.cipd.id)
    with FormBrowser() as marker:
        page = record(marker, panel(marker, moodle, "marker1", courses.cipd.id, "learner1"),
                      files={"evidence_file": ("drafts.pdf", PDF, "application/pdf")})
        url = incident_url(page)
        detail = marker.open(url)
        link = re.search(r'href="([^"]+/evidence/\d+)"', detail.text)
        assert link, "no download link"
        download = marker.open(urljoin(detail.url, link.group(1)))
        assert download.status_code == 200 and download.content == PDF
        assert decide(marker, url, outcome="not_upheld", without_answer="y",
                      reasons="The drafts show the work is the learner's own.").status_code == 200

    with app.app_context():
        row = db.session.scalar(sa.select(EvidenceFile))
        assert row is not None and row.content is None and row.location
        path = folder / row.location
    assert path.read_bytes() == PDF
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    with app.app_context():
        report = retention.run(schedule.add_period(utcnow(), "1 year") + timedelta(days=2))
        db.session.commit()
        assert "case_not_upheld" in {c.record_type for c in report.disposed}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EvidenceFile)) == 0
    assert not path.exists()


def test_the_evidence_folder_may_not_be_inside_the_checkout(database_uri: str) -> None:
    with pytest.raises(RuntimeError, match="outside the tool's checkout"):
        create_app({"SECRET_KEY": TEST_SECRET, "SQLALCHEMY_DATABASE_URI": database_uri,
                    "ALLOW_INSECURE": True,
                    "EVIDENCE_DIR": os.path.join(PROJECT_DIR, "evidence")})
