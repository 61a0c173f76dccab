"""Outbox benchmark: N score posts queued for the Moodle stand-in, delivered by K
``flask worker`` processes on the database in AIU_BENCH_DATABASE_URL (PostgreSQL) or SQLite.

The bench serves the tool (for its JWKS, which the stand-in's token.php checks the client
assertion against) and the stand-in in this process, makes one marker launch so the
placement and its line item exist, adds learners to the stand-in's course, starts the
workers and waits until they have delivered a warm-up score per worker (so they are running
and hold an access token), then queues N scores in one transaction (through
``gradesync.queue_score``, several per learner so ordering matters) and times from that
commit until no row is pending.

It reports posts/s, the rows by final status, whether the stand-in received every row
exactly once (each score's comment names its row; Moodle's 409 counts as delivered) and
whether each learner's scores arrived in the order they were queued.
Target (issue 13): >= 50 score posts/s with 4 workers, every row delivered exactly once.

    .venv/bin/python bench/bench_outbox.py [--posts 500] [--workers 4] [--learners 50]
    AIU_BENCH_DATABASE_URL=postgresql+psycopg://... .venv/bin/python bench/bench_outbox.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.bench_side_by_side import base_env  # noqa: E402
from bench.harness import (  # noqa: E402
    free_port,
    migrate_from_nothing,
    serve_registered,
    start_standin,
)
from lti_tool import create_app  # noqa: E402
from lti_tool.demo.model import STUDENT  # noqa: E402
from lti_tool.extensions import db  # noqa: E402
from lti_tool.gradesync.service import queue_score  # noqa: E402
from lti_tool.lti.keys import KeyStore  # noqa: E402
from lti_tool.outbox.models import OutboxMessage  # noqa: E402
from lti_tool.people.models import Placement  # noqa: E402
from tests.support.browser import FormBrowser, launch  # noqa: E402

BIN = Path(sys.executable).parent
TARGET_RATE = 50.0
COURSE_ID = 2
COMMENT_PREFIX = "bench-outbox-row-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=500, help="score posts to queue")
    parser.add_argument("--workers", type=int, default=4, help="flask worker processes")
    parser.add_argument("--learners", type=int, default=50,
                        help="learners the scores are spread over")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="aiu-bench-outbox-"))
    KeyStore(work / "keys").generate()
    port = free_port()
    database_url = (os.environ.get("AIU_BENCH_DATABASE_URL")
                    or f"sqlite:///{work / 'bench.sqlite'}")
    env = base_env() | {
        "LTI_TOOL_SECRET_KEY": "bench-outbox",
        "LTI_TOOL_BASE_URL": f"http://localhost:{port}",
        "LTI_TOOL_SQLALCHEMY_DATABASE_URI": database_url,
        "LTI_TOOL_KEYS_DIR": str(work / "keys"),
        "LTI_TOOL_CACHE_DIR": str(work / "cache"),
        "LTI_TOOL_ALLOW_INSECURE": "1",
        "LTI_TOOL_WORKER_POLL_SECONDS": "0.2",
    }
    config: dict[str, object] = {key.removeprefix("LTI_TOOL_"): value
                                 for key, value in env.items() if key.startswith("LTI_TOOL_")}
    # Scores are only delivered by the workers, never right after the launch request.
    config["OUTBOX_DELIVER_AFTER_REQUEST"] = False
    app = create_app(config)
    dialect = migrate_from_nothing(app)
    moodle = start_standin()
    serve_registered(app, port, moodle)
    with FormBrowser() as browser:
        page = launch(browser, moodle, "marker1", course_id=COURSE_ID)
        if page.status_code != 200:
            raise RuntimeError(f"the marker's launch failed: {page.status_code}")
    learners = []
    for i in range(1, args.learners + 1):
        user = moodle.add_user(f"outboxlearner{i}", "Outbox", f"Learner {i}")
        moodle.enrol(COURSE_ID, user.username, STUDENT)
        learners.append(str(user.id))

    warm_learners = []
    for n in range(args.workers):
        user = moodle.add_user(f"outboxwarm{n}", "Outbox", f"Warm-up {n}")
        moodle.enrol(COURSE_ID, user.username, STUDENT)
        warm_learners.append(str(user.id))

    def wait_until_drained(timeout: float) -> int:
        """Rows still pending: 0 as soon as none is left, else the count at the timeout."""
        deadline = time.monotonic() + timeout
        pending = -1
        while time.monotonic() < deadline:
            pending = int(db.session.scalar(
                sa.select(sa.func.count()).select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending")) or 0)
            db.session.rollback()
            if not pending:
                return 0
            time.sleep(0.1)
        return pending

    logs = [(work / f"worker-{n}.log").open("wb") for n in range(args.workers)]
    workers = [subprocess.Popen([str(BIN / "flask"), "--app", "lti_tool", "worker"], env=env,
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
               for log in logs]
    try:
        with app.app_context():
            placement = db.session.scalars(sa.select(Placement)).one()
            # Warm-up: one score per worker for learners outside the measured set, waited
            # for, so that the workers are running and hold an access token before timing.
            for n, sub in enumerate(warm_learners):
                queue_score(placement, sub, score_given=1.0, score_maximum=1.0,
                            comment=f"bench-outbox-warm-{n}")
            db.session.commit()
            if wait_until_drained(args.timeout):
                raise RuntimeError(f"the warm-up scores were not delivered; see {work}")
            first_id = int(db.session.scalar(sa.select(sa.func.max(OutboxMessage.id))) or 0)
            row_of_comment: dict[str, int] = {}
            for i in range(args.posts):
                comment = f"{COMMENT_PREFIX}{i}"
                message = queue_score(placement, learners[i % len(learners)],
                                      score_given=float(i % 2), score_maximum=1.0,
                                      comment=comment)
                row_of_comment[comment] = message.id
            db.session.commit()
            started = time.perf_counter()
            pending = wait_until_drained(args.timeout)
            elapsed = time.perf_counter() - started
            measured = OutboxMessage.id > first_id
            statuses = Counter(dict(db.session.execute(
                sa.select(OutboxMessage.status, sa.func.count()).where(measured)
                .group_by(OutboxMessage.status)).all()))
            attempts = Counter(db.session.scalars(
                sa.select(OutboxMessage.attempts).where(measured)))
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()

    with moodle.lock:
        posts = [r for r in moodle.requests_log
                 if r.method == "POST" and r.path.endswith("/scores")
                 and isinstance(r.json, dict)
                 and str(r.json.get("comment", "")).startswith(COMMENT_PREFIX)]
        tokens = sum(1 for r in moodle.requests_log if r.path.endswith("/token.php"))
    received = Counter(str(r.json["comment"]) for r in posts)
    answers = Counter(r.status for r in posts)
    missing = [c for c in row_of_comment if received[c] == 0]
    repeated = [c for c in row_of_comment if received[c] > 1]
    out_of_order = 0
    last_row: dict[str, int] = {}
    for r in posts:
        sub, row = str(r.json["userId"]), row_of_comment[str(r.json["comment"])]
        if row < last_row.get(sub, -1):
            out_of_order += 1
        last_row[sub] = max(row, last_row.get(sub, -1))

    delivered = statuses.get("delivered", 0)
    rate = delivered / elapsed if elapsed else 0.0
    print(f"outbox benchmark on {dialect}: {args.posts} score posts for {len(learners)} "
          f"learners, {args.workers} flask worker processes; work dir {work}")
    print(f"drained in {elapsed:.1f} s: {rate:.1f} posts/s "
          f"({'all' if not pending else f'{pending} still pending,'} rows by status: "
          f"{dict(statuses)}; attempts per row: {dict(sorted(attempts.items()))})")
    print(f"stand-in received {len(posts)} score posts (answers {dict(answers)}): "
          f"{len(missing)} rows never posted, {len(repeated)} rows posted more than once, "
          f"{out_of_order} posts out of order for their learner; {tokens} access tokens "
          "requested from token.php")
    exactly_once = not missing and not repeated and delivered == args.posts
    print("targets (issue 13):")
    print(f"  >= {TARGET_RATE:.0f} posts/s with 4 workers: {rate:.1f} posts/s with "
          f"{args.workers} -> {'PASS' if rate >= TARGET_RATE and args.workers == 4 else 'FAIL'}"
          + ("" if args.workers == 4 else " (not run with 4 workers)"))
    print(f"  every row delivered exactly once, in order per learner: "
          f"{'PASS' if exactly_once and not out_of_order else 'FAIL'}")


if __name__ == "__main__":
    main()
