"""Launch hot-path benchmark: whole launches (login → Moodle stand-in auth → launch → landing
page) against the tool served over HTTP on loopback, with SQLite or the database in
AIU_BENCH_DATABASE_URL.

Reports launches per second, milliseconds per launch, the tool's own CPU per launch (thread
CPU time spent inside the tool's WSGI app, so the stand-in does not count), SQL statements
per launch and platform JWKS fetches (which must stay at 0 while measuring: the keys are
cached). With ``--calls`` it also counts Python function calls per launch, a figure a busy
machine does not change (CPU times do), for comparing two commits. Targets: >= 20
launches/s on the 2-core reference machine with SQLite, <= 40 statements per launch.

    .venv/bin/python bench/bench_launch.py [--launches 200] [--calls]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from bench.harness import free_port, serve_registered, start_standin  # noqa: E402
from lti_tool import create_app  # noqa: E402
from lti_tool.extensions import db  # noqa: E402
from lti_tool.lti.keys import KeyStore  # noqa: E402
from tests.support.browser import FormBrowser, launch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--launches", type=int, default=200)
    parser.add_argument("--calls", action="store_true",
                        help="also count Python function calls per launch (cProfile): a "
                        "figure a busy machine does not change, for before/after comparisons")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aiu-bench-"))
    KeyStore(work / "keys").generate()
    port = free_port()
    app = create_app({
        "SECRET_KEY": "bench", "BASE_URL": f"http://localhost:{port}",
        "SQLALCHEMY_DATABASE_URI": os.environ.get("AIU_BENCH_DATABASE_URL")
        or f"sqlite:///{work / 'bench.sqlite'}",
        "KEYS_DIR": str(work / "keys"), "ALLOW_INSECURE": True,
    })
    with app.app_context():
        upgrade()
    tool_cpu = 0.0
    calls = 0
    measuring = False
    inner = app.wsgi_app

    def timed_wsgi(environ: Any, start_response: Any) -> Any:
        # The body is produced inside the timing so the response's rendering counts; each
        # request runs in its own server thread, so thread time is the tool's work alone.
        nonlocal tool_cpu, calls
        profile = cProfile.Profile() if args.calls and measuring else None
        started_cpu = time.thread_time()
        if profile is not None:
            profile.enable()
        try:
            return list(inner(environ, start_response))
        finally:
            if profile is not None:
                profile.disable()
                calls += pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
            tool_cpu += time.thread_time() - started_cpu

    app.wsgi_app = timed_wsgi  # type: ignore[method-assign]
    moodle = start_standin()
    serve_registered(app, port, moodle)
    with app.app_context():
        engine = db.engine
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    users = ["learner1", "learner2", "marker1", "als1"]
    with FormBrowser() as warm:
        launch(warm, moodle, "learner1")
    fetches = moodle.jwks_fetch_count
    sa.event.listen(engine, "before_cursor_execute", count)
    tool_cpu = 0.0
    measuring = True
    timings = []
    started = time.perf_counter()
    for i in range(args.launches):
        with FormBrowser() as browser:
            t0 = time.perf_counter()
            page = launch(browser, moodle, users[i % len(users)])
            timings.append(time.perf_counter() - t0)
            assert page.status_code == 200, page.text
    elapsed = time.perf_counter() - started
    print(f"launches: {args.launches}  total: {elapsed:.2f}s  "
          f"rate: {args.launches / elapsed:.1f}/s")
    print(f"per launch: median {statistics.median(timings) * 1000:.1f} ms, "
          f"p95 {sorted(timings)[int(len(timings) * 0.95)] * 1000:.1f} ms "
          "(includes the stand-in's signing and both HTTP legs)")
    print(f"tool CPU per launch: {tool_cpu / args.launches * 1000:.2f} ms "
          "(thread CPU inside the tool's WSGI app)")
    if args.calls:
        print(f"Python function calls per launch: {calls / args.launches:.0f} (cProfile; "
              "the CPU figures above are inflated while it runs)")
    print(f"SQL statements per launch: {statements / args.launches:.1f}")
    print(f"platform JWKS fetches during the run: {moodle.jwks_fetch_count - fetches}")


if __name__ == "__main__":
    main()
