"""The durable outbox against the Moodle stand-in and a real SMTP server: failures delay
delivery but lose nothing, and messages with the same key arrive in order, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.dbtypes import utcnow
from lti_tool.demo.model import STUDENT
from lti_tool.extensions import db
from lti_tool.outbox.handlers import EMAIL, SCORE
from lti_tool.outbox.models import DELIVERED, FAILED, PENDING, OutboxMessage
from lti_tool.outbox.service import deliver_due, enqueue
from lti_tool.platforms.models import Platform
from tests.conftest import SmtpSink


def _lineitem(moodle: Any) -> tuple[int, str]:
    item = min(moodle.line_items.values(), key=lambda i: i.id)
    return item.id, moodle.lineitem_url(item)


def _score(user_id: str, given: float, when: datetime, comment: str = "") -> dict[str, Any]:
    return {"userId": user_id, "scoreGiven": given, "scoreMaximum": 100,
            "activityProgress": "Completed", "gradingProgress": "FullyGraded",
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S+00:00"), "comment": comment}


def _queue_score(app: Flask, url: str, score: dict[str, Any]) -> int:
    with app.app_context():
        platform = db.session.scalar(sa.select(Platform))
        assert platform is not None
        message = enqueue(SCORE, {"lineitem_url": url, "score": score},
                          ordering_key=f"score:{url}:{score['userId']}", platform_id=platform.id)
        db.session.commit()
        return message.id


def _run(app: Flask) -> dict[str, int]:
    with app.app_context():
        return deliver_due()


def _message(app: Flask, message_id: int) -> OutboxMessage:
    with app.app_context():
        message = db.session.get(OutboxMessage, message_id)
        assert message is not None
        db.session.expunge(message)
        return message


def _make_due(app: Flask) -> None:
    with app.app_context():
        db.session.execute(sa.update(OutboxMessage).values(next_attempt_at=utcnow()))
        db.session.commit()


def test_score_is_posted_with_the_exact_media_type(app: Flask, registered: Any,
                                                   moodle: Any) -> None:
    item_id, url = _lineitem(moodle)
    message_id = _queue_score(app, url, _score("3", 73, datetime.now(UTC), "Well done"))
    assert _run(app) == {DELIVERED: 1}
    grade = moodle.grade_for(item_id, "learner1")
    assert grade is not None and grade.score_given == 73 and grade.comment == "Well done"
    posts = [r for r in moodle.requests_log if r.path.endswith("/scores")]
    assert posts and posts[-1].content_type == "application/vnd.ims.lis.v1.score+json"
    assert _message(app, message_id).status == DELIVERED


def test_outage_delays_but_loses_nothing_and_keeps_order(app: Flask, registered: Any,
                                                         moodle: Any) -> None:
    item_id, url = _lineitem(moodle)
    now = datetime.now(UTC)
    first = _queue_score(app, url, _score("3", 10, now - timedelta(seconds=2)))
    second = _queue_score(app, url, _score("3", 20, now - timedelta(seconds=1)))
    moodle.fail_next(1, status=500, only="ags")
    assert _run(app) == {PENDING: 1}  # the first failed; the second waits behind it
    assert _message(app, first).attempts == 1 and _message(app, second).attempts == 0
    moodle.down = True
    _make_due(app)
    assert _run(app) == {PENDING: 1}
    moodle.down = False
    app.config["HTTP_TIMEOUT"] = 0.5
    moodle.delay_seconds = 1.5  # Moodle too slow: a timeout is retried too
    _make_due(app)
    assert _run(app) == {PENDING: 1}
    moodle.delay_seconds = 0
    _make_due(app)
    assert _run(app) == {DELIVERED: 2}
    grade = moodle.grade_for(item_id, "learner1")
    assert grade is not None and grade.score_given == 20
    assert _message(app, first).status == DELIVERED and _message(app, second).status == DELIVERED


def test_connection_refused_is_retried(app: Flask, registered: Any, moodle: Any) -> None:
    _, url = _lineitem(moodle)
    dead = url.replace(moodle.issuer, "http://127.0.0.1:9")  # nothing listens there
    message_id = _queue_score(app, dead, _score("3", 50, datetime.now(UTC)))
    assert _run(app) == {PENDING: 1}
    assert "could not be reached" in _message(app, message_id).last_error


def test_409_counts_as_delivered(app: Flask, registered: Any, moodle: Any) -> None:
    item_id, url = _lineitem(moodle)
    now = datetime.now(UTC)
    _queue_score(app, url, _score("3", 30, now))
    assert _run(app) == {DELIVERED: 1}
    late = _queue_score(app, url, _score("3", 99, now - timedelta(minutes=5)))
    assert _run(app) == {DELIVERED: 1}
    assert "409" in _message(app, late).last_error
    grade = moodle.grade_for(item_id, "learner1")
    assert grade is not None and grade.score_given == 30


def test_refusal_is_permanent_and_visible(app: Flask, registered: Any, moodle: Any) -> None:
    _, url = _lineitem(moodle)
    bad = _score("3", 5, datetime.now(UTC))
    del bad["gradingProgress"]
    message_id = _queue_score(app, url, bad)
    assert _run(app) == {FAILED: 1}
    assert "refused" in _message(app, message_id).last_error


def test_gives_up_after_the_maximum_attempts(app: Flask, registered: Any, moodle: Any) -> None:
    _, url = _lineitem(moodle)
    app.config["OUTBOX_MAX_ATTEMPTS"] = 2
    moodle.down = True
    message_id = _queue_score(app, url, _score("3", 5, datetime.now(UTC)))
    assert _run(app) == {PENDING: 1}
    _make_due(app)
    assert _run(app) == {FAILED: 1}
    assert "gave up after 2 attempts" in _message(app, message_id).last_error


def _queue_email(app: Flask, to: str = "learner1@example.test") -> int:
    with app.app_context():
        message = enqueue(EMAIL, {"to": to, "subject": "Your AI tool request",
                                  "text": "Plain text body", "html": "<p>HTML body</p>"},
                          ordering_key=f"email:{to}")
        db.session.commit()
        return message.id


def test_email_reaches_a_real_smtp_server(app: Flask, smtp: SmtpSink) -> None:
    _queue_email(app)
    assert _run(app) == {DELIVERED: 1}
    (received,) = smtp.messages
    assert received["To"] == "learner1@example.test"
    assert received["Subject"] == "Your AI tool request"
    assert received.is_multipart()


def test_stopped_smtp_server_delays_mail_without_losing_it(app: Flask, smtp: SmtpSink) -> None:
    smtp.stop()
    message_id = _queue_email(app)
    assert _run(app) == {PENDING: 1}
    assert _message(app, message_id).status == PENDING
    smtp.start()
    _make_due(app)
    assert _run(app) == {DELIVERED: 1}
    assert len(smtp.messages) == 1


def test_worker_command_delivers_once(app: Flask, runner: Any, smtp: SmtpSink) -> None:
    _queue_email(app)
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 delivered" in result.output
    assert runner.invoke(args=["worker", "--once"]).output == ""
    assert len(smtp.messages) == 1


def test_health_shows_the_queue_in_one_query_without_personal_data(app: Flask,
                                                                   client: Any) -> None:
    with app.app_context():
        long_ago = utcnow() - timedelta(minutes=10)
        for status, created, summary in (
                (PENDING, long_ago, "Score 7/10 for user 41 on Essay"),
                (PENDING, utcnow(), "Email to lena@example.test"),
                (FAILED, long_ago - timedelta(hours=1), "Email to a@example.test"),
                (DELIVERED, long_ago - timedelta(days=1), "Score 3/10 for user 42")):
            db.session.add(OutboxMessage(kind=EMAIL, ordering_key=summary, payload="{}",
                                         status=status, created_at=created, summary=summary))
        db.session.commit()
        statements: list[str] = []

        def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            statements.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            answer = client.get("/healthz")  # no session, no launch: monitoring's view
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
    assert answer.status_code == 200
    figures = answer.json["outbox"]
    assert answer.json["status"] == "ok"
    assert (figures["pending"], figures["failed"]) == (2, 1)
    # Ten minutes and the time this test took: the oldest pending row, not the failed one.
    assert 600 <= figures["oldest_pending_seconds"] < 3600
    assert len([s for s in statements if "outbox_message" in s]) == 1
    assert b"example.test" not in answer.data and b"user 4" not in answer.data


def test_a_batch_costs_one_statement_per_score(app: Flask, registered: Any,
                                               moodle: Any) -> None:
    """The worker's cost per row: each score's outcome is one UPDATE (and its commit); the
    claim, the batch's rows and its platform are read once per batch, not once per row."""
    item_id, url = _lineitem(moodle)
    course_id = moodle.line_items[item_id].course_id
    now = datetime.now(UTC)
    for n in range(10):
        user = moodle.add_user(f"batchlearner{n}", "Batch", f"Learner {n}")
        moodle.enrol(course_id, user.username, STUDENT)
        _queue_score(app, url, _score(str(user.id), n, now - timedelta(seconds=1)))
    statements: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert deliver_due() == {DELIVERED: 10}
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        postgres = db.engine.dialect.name == "postgresql"
    outcomes = [s for s in statements if s.startswith("UPDATE outbox_message SET status")]
    assert len(outcomes) == 10
    assert len([s for s in statements if "FROM platform" in s]) == 1
    claims = [s for s in statements if "FOR UPDATE SKIP LOCKED" in s]
    # One claim for the batch and one that finds nothing left (PostgreSQL); SQLite claims
    # each row with its own atomic update.
    assert len(claims) == (2 if postgres else 0)
