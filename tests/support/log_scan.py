"""A pytest plugin that reads every log line the whole test run writes (every logger, DEBUG
and up, tracebacks included) and fails the run if one holds a secret or personal data: a
JWT, a bearer token, an answer-link or registration token, a Moodle ``sesskey`` or an email
address. The suite drives real launches, registrations, emails and answer links, so this
checks the redaction of :mod:`lti_tool.log_redaction` against everything the tool logs.

Under pytest-xdist each worker sends what it found to the controller with its
``workeroutput``, and the controller fails the run once every worker has finished; without
xdist the one process does both.
"""

from __future__ import annotations

import logging
import re

import pytest

from lti_tool import log_redaction

LEAKS = {
    "JWT": re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"),
    "bearer token": re.compile(r"(?i)bearer\s+(?!\[redacted\])[\w.~+/=-]{6,}"),
    "answer-link token": re.compile(r"/answer/(?!\[redacted\])[\w.~%+-]{6,}"),
    "registration token": re.compile(
        r"(?i)(/lti/register/|registration_token[\"']?\s*[=:]\s*[\"']?)(?!\[redacted\])"
        r"[\w.~%+-]{6,}"),
    "sesskey": re.compile(r"(?i)sesskey(=|%3D|[\"']?\s*:\s*[\"'])(?!\[redacted\])[\w]{4,}"),
    "email address": re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+"),
}


class LeakScanner(logging.Handler):
    """Keeps (kind, line) for every emitted log line that matches a leak pattern."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.found: list[tuple[str, str]] = []
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - a broken log call is not a leak
            return
        self.lines += 1
        for kind, pattern in LEAKS.items():
            if pattern.search(line):
                self.found.append((kind, line[:500]))


_scanner = LeakScanner()
_KEY = "aiu_log_scan"
_from_workers: list[dict[str, object]] = []


def pytest_configure(config: pytest.Config) -> None:
    # The tool's redaction, as every process running the tool has it (create_app installs
    # it); installed here too so lines logged before the first app is made are covered.
    log_redaction.install()
    root = logging.getLogger()
    root.addHandler(_scanner)
    root.setLevel(logging.DEBUG)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """xdist, on the controller: a worker finished and sent what it found."""
    output = getattr(node, "workeroutput", {}) or {}
    if _KEY in output:
        _from_workers.append(output[_KEY])


def pytest_sessionfinish(session: pytest.Session) -> None:
    logging.getLogger().removeHandler(_scanner)
    mine = {"lines": _scanner.lines, "found": _scanner.found}
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports
        workeroutput[_KEY] = mine
        return
    lines, found = 0, []
    for report in [mine, *_from_workers]:
        lines += int(report["lines"])  # type: ignore[call-overload]
        found.extend(tuple(item) for item in report["found"])  # type: ignore[attr-defined]
    session.config.stash[_summary] = (lines, found)
    if found and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_summary = pytest.StashKey[tuple[int, list[tuple[str, str]]]]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    lines, found = config.stash.get(_summary, (0, []))
    if not found:
        return
    terminalreporter.section("secrets or personal data in the logs", red=True)
    for kind, line in found[:50]:
        terminalreporter.line(f"{kind}: {line}")
    leaking = len({line for _, line in found})
    terminalreporter.line(f"{leaking} of {lines} log lines leak: extend lti_tool/log_redaction.py")
