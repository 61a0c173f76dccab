"""Launch hot-path benchmark: whole launches (login → Moodle stand-in auth → launch → landing
page) against the tool served over HTTP on loopback, with SQLite or the database in
AIU_BENCH_DATABASE_URL.

Reports launches per second, milliseconds per launch, SQL statements per launch and platform
JWKS fetches (which must stay at 1: the keys are cached). Targets: >= 20 launches/s on the
2-core reference machine with SQLite, <= 40 statements and 0 JWKS fetches per launch at
steady state.

    .venv/bin/python bench/bench_launch.py [--launches 200]
"""

from __future__ import annotations

import argparse
import os
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
    print(f"SQL statements per launch: {statements / args.launches:.1f}")
    print(f"platform JWKS fetches during the run: {moodle.jwks_fetch_count - fetches}")


if __name__ == "__main__":
    main()
