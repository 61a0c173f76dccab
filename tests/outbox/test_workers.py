"""Several real ``flask worker`` processes on PostgreSQL share one outbox (claims with
``FOR UPDATE SKIP LOCKED``): each score reaches the Moodle stand-in once, a learner's scores
arrive in the order they were queued, and a worker killed in the middle of a delivery loses
nothing (another sends the row once its lease has run out, before the learner's next one).

No timed assertions: every wait has a generous deadline and says what it waited for."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from lti_tool.demo.model import STUDENT
from lti_tool.extensions import db
from lti_tool.outbox.handlers import SCORE
from lti_tool.outbox.models import DELIVERED, PENDING, OutboxMessage
from lti_tool.outbox.service import enqueue
from lti_tool.platforms.models import Platform
from tests.conftest import TEST_SECRET
from tests.outbox.test_outbox import _lineitem, _score

pytestmark = pytest.mark.postgres_only

BIN = Path(sys.executable).parent
DEADLINE = 300.0  # seconds: far beyond what the work needs, even on a loaded machine

StartWorker = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start_worker(app: Flask, registered: Any, tmp_path: Path) -> Iterator[StartWorker]:
    """Starts ``flask worker`` processes on the test database (stopped at teardown)."""
    started: list[tuple[subprocess.Popen[bytes], Any]] = []
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "LTI_TOOL_SECRET_KEY": TEST_SECRET,
        "LTI_TOOL_BASE_URL": app.config["BASE_URL"],
        "LTI_TOOL_SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "LTI_TOOL_KEYS_DIR": app.config["KEYS_DIR"],
        "LTI_TOOL_CACHE_DIR": str(tmp_path / "worker-cache"),
        "LTI_TOOL_ALLOW_INSECURE": "1",
        "LTI_TOOL_WORKER_POLL_SECONDS": "0.2",
        "LTI_TOOL_HTTP_TIMEOUT": "30",
    }

    def start(lease_seconds: int = 120) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker-{len(started)}.log").open("wb")
        proc = subprocess.Popen(
            [str(BIN / "flask"), "--app", "lti_tool", "worker"],
            env=env | {"LTI_TOOL_OUTBOX_LEASE_SECONDS": str(lease_seconds)},
            stdout=log, stderr=subprocess.STDOUT)
        started.append((proc, log))
        return proc

    yield start
    for proc, _ in started:
        if proc.poll() is None:
            proc.terminate()
    for proc, log in started:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _learners(moodle: Any, course_id: int, count: int) -> list[str]:
    subs = []
    for n in range(count):
        user = moodle.add_user(f"queuelearner{n}", "Queue", f"Learner {n}")
        moodle.enrol(course_id, user.username, STUDENT)
        subs.append(str(user.id))
    return subs


def _queue(app: Flask, url: str, rows: list[tuple[str, str]]) -> dict[str, int]:
    """Queue (learner, comment) scores in one transaction, each later than the one before;
    returns the outbox row id of each comment."""
    start = datetime.now(UTC) - timedelta(hours=1)
    ids = {}
    with app.app_context():
        platform = db.session.scalar(sa.select(Platform))
        assert platform is not None
        for n, (sub, comment) in enumerate(rows):
            score = _score(sub, n % 100, start + timedelta(seconds=n), comment)
            message = enqueue(SCORE, {"lineitem_url": url, "score": score},
                              ordering_key=f"score:{url}:{sub}", platform_id=platform.id)
            ids[comment] = message.id
        db.session.commit()
    return ids


def _wait_for(what: str, done: Callable[[], bool], tmp_path: Path) -> None:
    deadline = time.monotonic() + DEADLINE
    while not done():
        if time.monotonic() > deadline:
            logs = "\n".join(p.read_text(errors="replace")[-2000:]
                             for p in sorted(tmp_path.glob("worker-*.log")))
            pytest.fail(f"waited {DEADLINE:.0f} s for {what}; worker logs:\n{logs}")
        time.sleep(0.2)


def _pending(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                  .where(OutboxMessage.status == PENDING))
        db.session.remove()
        return int(count or 0)


def _rows(app: Flask) -> dict[int, tuple[str, int, str]]:
    """(status, attempts, last error) of every outbox row, by id."""
    with app.app_context():
        rows = db.session.execute(sa.select(OutboxMessage.id, OutboxMessage.status,
                                            OutboxMessage.attempts, OutboxMessage.last_error))
        result = {r.id: (r.status, r.attempts, r.last_error) for r in rows}
        db.session.remove()
        return result


def _score_posts(moodle: Any) -> list[Any]:
    """The score posts the stand-in answered, in the order it answered them."""
    with moodle.lock:
        return [r for r in moodle.requests_log
                if r.method == "POST" and r.path.endswith("/scores")]


def test_four_workers_deliver_each_row_once_and_in_order_per_learner(
        app: Flask, moodle: Any, start_worker: StartWorker, tmp_path: Path) -> None:
    item_id, url = _lineitem(moodle)
    learners = _learners(moodle, moodle.line_items[item_id].course_id, 8)
    rows = [(learners[n % len(learners)], f"row-{n}") for n in range(64)]
    ids = _queue(app, url, rows)
    for _ in range(4):
        start_worker()

    _wait_for("4 workers to deliver 64 queued scores", lambda: _pending(app) == 0, tmp_path)

    states = _rows(app)
    assert {states[i] for i in ids.values()} == {(DELIVERED, 1, "")}
    posts = _score_posts(moodle)
    assert Counter(p.json["comment"] for p in posts) == Counter(c for _, c in rows)
    assert {p.status for p in posts} == {200}
    for sub in learners:
        order = [ids[p.json["comment"]] for p in posts if p.json["userId"] == sub]
        assert order == sorted(order), f"learner {sub}'s scores arrived out of order"
        last = max((c for s, c in rows if s == sub), key=ids.__getitem__)
        grade = moodle.grade_for(item_id, int(sub))
        assert grade is not None and grade.comment == last


def test_a_worker_killed_mid_delivery_loses_nothing_and_keeps_the_order(
        app: Flask, moodle: Any, start_worker: StartWorker, tmp_path: Path) -> None:
    item_id, url = _lineitem(moodle)
    first_learner, other_learner = _learners(moodle, moodle.line_items[item_id].course_id, 2)
    ids = _queue(app, url, [(first_learner, "first"), (other_learner, "other"),
                            (first_learner, "second")])
    held = moodle.hold_next(only="scores")
    lease = 30  # far longer than the kill and the release take
    doomed = start_worker(lease_seconds=lease)
    assert held.arrived.wait(DEADLINE), "the first worker never posted the first score"
    rescuer = start_worker(lease_seconds=lease)

    doomed.kill()  # SIGKILL while the stand-in holds its score request open
    doomed.wait(timeout=DEADLINE)
    # Moodle records the score whose answer the dead worker never read.
    held.release.set()
    assert held.answered.wait(DEADLINE), "the stand-in never answered the held request"
    _wait_for(f"another worker to send the killed worker's rows once its {lease} s lease "
              "ran out", lambda: _pending(app) == 0, tmp_path)
    assert rescuer.poll() is None

    states = _rows(app)
    status, attempts, note = states[ids["first"]]
    assert (status, attempts) == (DELIVERED, 2) and "409" in note
    assert states[ids["second"]][0] == states[ids["other"]][0] == DELIVERED
    posts = [(p.json["comment"], p.status) for p in _score_posts(moodle)]
    # Sent twice (the second time Moodle answers that it has it), recorded once, and the
    # learner's next score only after it.
    assert posts.count(("first", 200)) == 1 and posts.count(("first", 409)) == 1
    assert [c for c, _ in posts].count("second") == 1
    assert posts.index(("second", 200)) > posts.index(("first", 409))
    assert [c for c, _ in posts].count("other") == 1
    grade = moodle.grade_for(item_id, int(first_learner))
    assert grade is not None and grade.comment == "second"
