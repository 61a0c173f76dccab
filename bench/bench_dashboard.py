"""Dashboard benchmark: the staff course dashboard and its CSV export for a large course.

A marker (marker1) launches AIU from the Moodle stand-in and sets the activity up; then the
bench seeds, straight into the database (bulk inserts through the models), learners on the
course roster, their declarations (version chains) for the placement and incidents, in tiers
(by default 500, 1,000 then 2,000 learners with 5 declarations and 1/4 incident per learner:
2,000 learners, 10,000 declarations, 500 incidents at the last tier). After each tier it
fetches, as the marker, the dashboard (default view and a few sorts/filters) and the CSV
export, and reports per page the server time (WSGI call and body, measured in the tool's
request thread), the SQL statements it ran, the page size, and for the CSV export the peak
Python memory (tracemalloc) while it was produced.

Targets (issue 13): <= 150 ms server time per dashboard page (with pagination and filters),
a query count that does not grow with the number of learners, and a CSV export whose memory
stays flat as rows grow (it streams).

    .venv/bin/python bench/bench_dashboard.py [--tiers 500,1000,2000] [--repeat 5]
    AIU_BENCH_DATABASE_URL=postgresql+psycopg://... .venv/bin/python bench/bench_dashboard.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from flask import Flask  # noqa: E402

from bench.harness import (  # noqa: E402
    free_port,
    migrate_from_nothing,
    serve_registered,
    start_standin,
)
from lti_tool import create_app  # noqa: E402
from lti_tool.cases import models as incident_models  # noqa: E402
from lti_tool.declarations.models import Declaration, PlacementBinding  # noqa: E402
from lti_tool.demo.platform import MoodleStandIn  # noqa: E402
from lti_tool.extensions import db  # noqa: E402
from lti_tool.lti.keys import KeyStore  # noqa: E402
from lti_tool.people.models import Course, CourseMember, Person, Placement  # noqa: E402
from lti_tool.policy import service as policies  # noqa: E402
from tests.support.browser import FormBrowser, launch  # noqa: E402
from tests.support.pages import post_form  # noqa: E402

TARGET_MS = 150.0
LEARNER_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
DASHBOARD_VIEWS: dict[str, dict[str, str]] = {
    "default": {},
    "sort=name": {"sort": "name", "order": "asc"},
    "not declared": {"declaration": "not-declared"},
    "open incidents": {"incidents": "open", "sort": "incidents", "order": "desc"},
}
SEEDED_NAME = re.compile(rb"Learner \d{5}")
INCIDENT_STATES = [incident_models.AWAITING_ANSWER, incident_models.ANSWERED,
                   incident_models.FOLLOW_UP, incident_models.CLOSED]

# AIU v1.0's Stage 1 outcome (config/policy/aiu-1.0.json), given to every upheld case.
STAGE_1_OUTCOME = "marked_and_advised"


# ------------------------------------------------------------------------ server-side probe
@dataclass
class RequestFigures:
    path: str
    seconds: float = 0.0
    statements: int = 0
    body_bytes: int = 0
    peak_bytes: int | None = None


@dataclass
class Probe:
    """WSGI middleware measuring each request in the tool's own request thread: time from
    the call until the body is closed (so a streamed body counts), SQL statements run by
    that thread meanwhile, bytes sent and, with ``trace_memory``, the tracemalloc peak."""

    wsgi_app: Callable[..., Iterable[bytes]]
    trace_memory: bool = False
    done: list[RequestFigures] = field(default_factory=list)
    _local: threading.local = field(default_factory=threading.local)

    def count_statement(self, *_: Any) -> None:
        figures = getattr(self._local, "figures", None)
        if figures is not None:
            figures.statements += 1

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterator[bytes]:
        figures = RequestFigures(environ.get("PATH_INFO", ""))
        self._local.figures = figures
        if self.trace_memory:
            tracemalloc.reset_peak()
            baseline = tracemalloc.get_traced_memory()[0]
        started = time.perf_counter()
        result = self.wsgi_app(environ, start_response)
        try:
            for chunk in result:
                figures.body_bytes += len(chunk)
                yield chunk
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            figures.seconds = time.perf_counter() - started
            if self.trace_memory:
                figures.peak_bytes = tracemalloc.get_traced_memory()[1] - baseline
            self._local.figures = None
            self.done.append(figures)


# ------------------------------------------------------------------------------ the course
@dataclass
class SeededCourse:
    platform_id: int
    course_id: int
    placement_id: int
    marker_id: int
    policy_version_id: int
    settings_id: int


def set_up_course(app: Flask, moodle: MoodleStandIn, browser: FormBrowser) -> tuple[SeededCourse,
                                                                                    str]:
    """marker1's first launch sets the activity up (as a person would); returns the ids and
    the dashboard URL (as the tool gave it, with its query)."""
    page = launch(browser, moodle, "marker1")
    if page.url.split("?")[0].endswith("/settings"):
        page = post_form(browser, page, {
            "title": "Unit 1 declaration", "assignment_name": "Unit 1 assignment",
            "qualification": "CIPD", "permitted_uses": ["reading", "planning", "criteria"]})
    if page.status_code != 200 or "/staff/placements/" not in page.url:
        raise RuntimeError(f"the marker's launch did not reach the dashboard: {page.url}")
    with app.app_context():
        placement = db.session.scalars(sa.select(Placement)).one()
        course = db.session.get(Course, placement.course_id)
        assert course is not None
        marker = db.session.scalars(sa.select(Person).where(Person.sub == "5")).one()
        binding = db.session.get(PlacementBinding, placement.id)
        assert binding is not None
        ids = SeededCourse(course.platform_id, course.id, placement.id, marker.id,
                      policies.current_or_bundled().id, binding.settings_id)
        # The roster counts as fetched: the dashboard reads the seeded one and never calls
        # Names and Roles while it is timed.
        course.roster_fetched_at = datetime.now(UTC)
        db.session.commit()
    return ids, page.url


def versions_of(index: int) -> int:
    """Declarations of learner ``index``: none for 1 in 5, else a chain of 6 or 7 (5 per
    learner on average)."""
    return (0, 7, 6, 6, 6)[index % 5]


def seed(app: Flask, ids: SeededCourse, start: int, end: int) -> None:
    """Learners ``start`` .. ``end - 1``: Person and roster rows, declaration chains for the
    placement, one incident for 1 learner in 4 (the closed ones upheld at Stage 1)."""
    now = datetime.now(UTC)
    with app.app_context():
        indexes = range(start, end)
        person_ids = dict(db.session.execute(
            sa.insert(Person).returning(Person.sub, Person.id, sort_by_parameter_order=True),
            [{"platform_id": ids.platform_id, "sub": f"bench-{i}",
              "name": f"Learner {i:05d}", "given_name": "Learner",
              "family_name": f"{i:05d}", "email": f"learner{i}@example.test",
              "username": f"learner{i}", "created_at": now, "last_launch_at": now}
             for i in indexes]).all())
        db.session.execute(sa.insert(CourseMember), [
            {"course_id": ids.course_id, "sub": f"bench-{i}", "name": f"Learner {i:05d}",
             "email": f"learner{i}@example.test", "roles": LEARNER_ROLE,
             "is_learner": True, "active": True, "fetched_at": now} for i in indexes])
        previous: dict[int, int] = {}
        for version in range(max(versions_of(i) for i in range(5))):
            rows = [{
                "person_id": person_ids[f"bench-{i}"], "placement_id": ids.placement_id,
                "policy_version_id": ids.policy_version_id, "settings_id": ids.settings_id,
                "uses_ai": version % 2 == 0,
                "permitted_uses": json.dumps(["reading", "planning"]),
                "ai_tools": json.dumps(["ChatGPT"] if version % 2 == 0 else []),
                "authorisation_ids": "[]", "confirmed_no_personal_data": True,
                "confirmed_no_ai_after_start": True, "confirmed_own_work": True,
                "signature": f"Learner {i:05d}",
                "created_at": now - timedelta(days=30 - version),
                "supersedes_id": previous.get(i),
            } for i in indexes if versions_of(i) > version]
            if not rows:
                break
            new_ids = db.session.execute(
                sa.insert(Declaration).returning(Declaration.id, sort_by_parameter_order=True),
                rows).scalars().all()
            chained = [i for i in indexes if versions_of(i) > version]
            previous.update(zip(chained, new_ids, strict=True))
        incidents = []
        standings = []
        for i in indexes:
            if i % 4 != 2:
                continue
            state = INCIDENT_STATES[(i // 4) % len(INCIDENT_STATES)]
            closed = state == incident_models.CLOSED
            upheld = closed or state == incident_models.FOLLOW_UP
            incidents.append({
                "platform_id": ids.platform_id, "learner_id": person_ids[f"bench-{i}"],
                "course_id": ids.course_id, "placement_id": ids.placement_id,
                "raised_by_id": ids.marker_id, "raised_at": now - timedelta(days=3),
                "source": incident_models.SOURCE_OBSERVATION,
                "observations": "Style changes sharply between sections.", "state": state,
                "outcome": incident_models.UPHELD if upheld else None,
                "stage": 1 if upheld else None,
                "stage_action": STAGE_1_OUTCOME if upheld else None,
                "decided_at": now if upheld else None,
                "decided_by_id": ids.marker_id if upheld else None,
                "closed_at": now if closed else None, "last_seq": 0,
            })
            if upheld:
                standings.append({"person_id": person_ids[f"bench-{i}"],
                                  "platform_id": ids.platform_id, "upheld": 1, "stage": 1,
                                  "version": 1, "updated_at": now})
        if incidents:
            new_cases = db.session.execute(
                sa.insert(incident_models.Incident).returning(
                    incident_models.Incident.id, incident_models.Incident.learner_id,
                    incident_models.Incident.outcome, sort_by_parameter_order=True),
                incidents).all()
            entries = [{"platform_id": ids.platform_id, "learner_id": learner_id,
                        "incident_id": case_id, "ledger_key": "AIU", "ordinal": 1,
                        "stage": 1, "action": STAGE_1_OUTCOME, "removal_flag": False,
                        "disciplinary_flag": False, "assigned_at": now,
                        "assigned_by_id": ids.marker_id}
                       for case_id, learner_id, outcome in new_cases
                       if outcome == incident_models.UPHELD]
            if entries:
                db.session.execute(sa.insert(incident_models.StageLedgerEntry), entries)
        if standings:
            db.session.execute(sa.insert(incident_models.LearnerStanding), standings)
        db.session.commit()


def counts(app: Flask) -> tuple[int, int, int]:
    with app.app_context():
        learners = db.session.scalar(sa.select(sa.func.count()).select_from(CourseMember)
                                     .where(CourseMember.is_learner.is_(True)))
        declared = db.session.scalar(sa.select(sa.func.count()).select_from(Declaration))
        incidents = db.session.scalar(sa.select(sa.func.count())
                                      .select_from(incident_models.Incident))
        return int(learners or 0), int(declared or 0), int(incidents or 0)


# ---------------------------------------------------------------------------------- timing
def fetch(browser: FormBrowser, probe: Probe, url: str) -> tuple[RequestFigures, int]:
    """GET ``url`` as the marker, reading the body in chunks (so the client keeps little of
    it in memory): the tool's figures for that request, and the learners the page lists
    (seeded names on a page; lines after the header of a CSV file)."""
    before = len(probe.done)
    response = browser.request("GET", url, stream=True)
    csv_file = urlsplit(url).path.endswith(".csv")
    lines, names = 0, set()
    tail = b""
    for chunk in response.iter_content(65536):
        if csv_file:
            lines += chunk.count(b"\n")
        else:
            text = tail + chunk
            names.update(SEEDED_NAME.findall(text))
            tail = text[-32:]
    response.close()
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    deadline = time.monotonic() + 10
    while len(probe.done) == before and time.monotonic() < deadline:
        time.sleep(0.005)
    return probe.done[-1], (lines - 1 if csv_file else len(names))


@dataclass
class PageFigures:
    page: str
    server_ms: float
    statements: int
    body_bytes: int
    rows: int
    peak_bytes: int | None


def measure_tier(browser: FormBrowser, probe: Probe, dashboard: str, repeat: int
                 ) -> list[PageFigures]:
    """Figures for each dashboard view and the CSV export (median server time of
    ``repeat`` fetches after a warm one)."""
    results = []
    # The landing URL may carry the tool's own parameters (the launch, for several tabs):
    # keep them on every page.
    parts = urlsplit(dashboard)
    kept = dict(parse_qsl(parts.query))

    def page_url(path: str, params: dict[str, str]) -> str:
        return urlunsplit(parts._replace(path=path, query=urlencode(kept | params)))

    pages = [(name, page_url(parts.path, params))
             for name, params in DASHBOARD_VIEWS.items()]
    pages.append(("CSV export", page_url(parts.path + "/declarations.csv", {})))
    for name, url in pages:
        fetch(browser, probe, url)  # warm (template compiled, caches filled)
        runs = [fetch(browser, probe, url) for _ in range(repeat)]
        rows = runs[-1][1]
        peak = None
        if name == "CSV export":
            probe.trace_memory = True
            tracemalloc.start()
            try:
                peak = fetch(browser, probe, url)[0].peak_bytes
            finally:
                tracemalloc.stop()
                probe.trace_memory = False
        figures = [f for f, _ in runs]
        results.append(PageFigures(name, 1000 * statistics.median(f.seconds for f in figures),
                                   figures[-1].statements, figures[-1].body_bytes, rows, peak))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiers", default="500,1000,2000",
                        help="learner counts to measure at (seeded cumulatively)")
    parser.add_argument("--repeat", type=int, default=5, help="timed fetches per page")
    args = parser.parse_args()
    tiers = [int(t) for t in args.tiers.split(",") if t.strip()]

    work = Path(tempfile.mkdtemp(prefix="aiu-bench-dashboard-"))
    KeyStore(work / "keys").generate()
    port = free_port()
    database_url = (os.environ.get("AIU_BENCH_DATABASE_URL")
                    or f"sqlite:///{work / 'bench.sqlite'}")
    app = create_app({
        "SECRET_KEY": "bench", "BASE_URL": f"http://localhost:{port}",
        "SQLALCHEMY_DATABASE_URI": database_url, "KEYS_DIR": str(work / "keys"),
        "ALLOW_INSECURE": True, "CACHE_TYPE": "SimpleCache",
    })
    migrate_from_nothing(app)
    with app.app_context():
        engine = db.engine
    probe = Probe(app.wsgi_app)
    app.wsgi_app = probe  # type: ignore[method-assign]
    sa.event.listen(engine, "before_cursor_execute", probe.count_statement)
    moodle = start_standin()
    serve_registered(app, port, moodle)

    print(f"dashboard benchmark on {engine.dialect.name}; tiers {tiers} learners; "
          f"{args.repeat} timed fetches per page (median); work dir {work}")
    with FormBrowser(timeout=120) as browser:
        ids, dashboard = set_up_course(app, moodle, browser)
        seeded = 0
        by_tier: dict[int, list[PageFigures]] = {}
        for tier in tiers:
            started = time.perf_counter()
            seed(app, ids, seeded, tier)
            seeded = tier
            learners, declared, incidents = counts(app)
            print(f"\n{learners} learners, {declared} declarations, {incidents} incidents "
                  f"(seeded in {time.perf_counter() - started:.1f} s)")
            print(f"  {'page':<16} {'server ms':>10} {'SQL':>5} {'KB':>8} {'learners':>9} "
                  f"{'peak MB':>8}")
            by_tier[tier] = measure_tier(browser, probe, dashboard, args.repeat)
            for f in by_tier[tier]:
                peak_text = (f"{f.peak_bytes / 2**20:>8.1f}" if f.peak_bytes is not None
                             else f"{'':>8}")
                print(f"  {f.page:<16} {f.server_ms:>10.1f} {f.statements:>5} "
                      f"{f.body_bytes / 1024:>8.0f} {f.rows:>9} {peak_text}")

    last, first = by_tier[tiers[-1]], by_tier[tiers[0]]
    views = [f for f in last if f.page != "CSV export"]
    print("\ntargets (issue 13):")
    slowest = max(f.server_ms for f in views)
    print(f"  dashboard server time <= {TARGET_MS:.0f} ms per page at {tiers[-1]} learners: "
          f"slowest view {slowest:.1f} ms -> {'PASS' if slowest <= TARGET_MS else 'FAIL'}")
    default_view = views[0]
    if default_view.rows >= tiers[-1]:
        print(f"  note: the default view lists {default_view.rows} learners on one page "
              "(no pagination yet)")
    constant = all(a.statements == b.statements for a, b in zip(first, last, strict=True))
    print(f"  query count constant from {tiers[0]} to {tiers[-1]} learners: "
          + ", ".join(f"{a.page} {a.statements}->{b.statements}"
                      for a, b in zip(first, last, strict=True))
          + f" -> {'PASS' if constant else 'FAIL'}")
    csv_first, csv_last = first[-1], last[-1]
    if len(tiers) > 1 and csv_first.peak_bytes and csv_last.peak_bytes:
        growth = csv_last.peak_bytes / csv_first.peak_bytes
        rows_growth = max(csv_last.rows, 1) / max(csv_first.rows, 1)
        flat = growth < 1.5
        print(f"  CSV export memory flat in rows: peak {csv_first.peak_bytes / 2**20:.1f} MB "
              f"for {csv_first.rows} rows -> {csv_last.peak_bytes / 2**20:.1f} MB for "
              f"{csv_last.rows} rows (x{growth:.1f} for x{rows_growth:.1f} rows) -> "
              f"{'PASS' if flat else 'FAIL'}")

if __name__ == "__main__":
    main()
