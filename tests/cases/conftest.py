"""Fixtures for the incident tests: the declaration activity in both courses."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from lti_tool.extensions import db
from lti_tool.policy import service as policies
from tests.cases.flows import JCQ, Courses, declare_as, place_both

# Above the tool's 256 KiB request limit (so the upload pages must raise it) and small
# enough to keep the tests fast.
UPLOAD_LIMIT = 400_000


@pytest.fixture(autouse=True)
def incident_settings(app: Flask) -> None:
    app.config.update(INCIDENT_MAX_UPLOAD_BYTES=UPLOAD_LIMIT,
                      AI_CHECKERS=["Turnitin AI writing detection", "Copyleaks"])


@pytest.fixture
def courses(registered: Any, moodle: Any) -> Courses:
    return place_both(moodle)


@pytest.fixture
def declared(courses: Courses, moodle: Any) -> Courses:
    """Both activities, with learner1 (in both courses) declared in each."""
    declare_as(moodle, courses.cipd.id)
    declare_as(moodle, courses.cmi.id)
    return courses


@pytest.fixture
def jcq(app: Flask, registered: Any, runner: Any) -> None:
    """AIU v1.0 is the platform's policy; the JCQ example is published beside it."""
    with app.app_context():
        policies.current_or_bundled()
        db.session.commit()
    assert runner.invoke(args=["policy", "import", str(JCQ), "--publish"]).exit_code == 0
