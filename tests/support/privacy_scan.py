"""A pytest plugin that reads every page and download the course-staff blueprints serve in
the whole test run (dashboards, panels, incidents, analytics, CSV and report exports, the
course's AI-tool requests) and fails the run if one holds a learner's reason for an AI-tool
request: staff see what a learner wants the tool for, never why they need it.

Tests that make requests use :data:`KNOWN_REASONS` for the reasons (see
``tests/requests/conftest.py``), so any staff page that shows one is caught, whichever test
led there. ``scanned`` counts what was read, so a test can check the scan saw its pages.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, Response, request, request_finished

# Reasons only the ALS team may read (the detail a learner gives and their supporting detail).
KNOWN_REASONS = (
    "I have dyslexia and an agreed reasonable adjustment.",
    "Support plan reference SP-12.",
)
STAFF_BLUEPRINTS = {"staff", "course_requests"}

found: list[tuple[str, str]] = []
scanned: list[str] = []


def _scan(sender: Flask, response: Response, **extra: Any) -> None:
    if request.blueprint not in STAFF_BLUEPRINTS:
        return
    response.make_sequence()  # a download is a file wrapper: read it once, keep it served
    body = response.get_data().decode("utf-8", errors="replace")
    scanned.append(request.path)
    for reason in KNOWN_REASONS:
        if reason in body:
            found.append((request.path, reason))


def pytest_configure(config: pytest.Config) -> None:
    request_finished.connect(_scan)


def pytest_sessionfinish(session: pytest.Session) -> None:
    request_finished.disconnect(_scan)
    if found and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not found:
        return
    terminalreporter.section("a learner's reason reached a staff page", red=True)
    for path, reason in found[:50]:
        terminalreporter.line(f"{path}: {reason!r}")
