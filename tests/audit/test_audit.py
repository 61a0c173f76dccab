from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from lti_tool.audit import service as audit
from lti_tool.audit.models import AuditEvent
from lti_tool.extensions import db


def _record_three(app: Flask) -> None:
    with app.app_context():
        for n in range(3):
            audit.record("cli:test", "thing.done", "thing", n, {"n": n})
        db.session.commit()


def test_chain_verifies_and_links_each_event_to_the_previous(app: Flask,
                                                             runner: FlaskCliRunner) -> None:
    _record_three(app)
    with app.app_context():
        events = list(db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)))
        assert [e.seq for e in events] == [1, 2, 3]
        assert events[1].prev_hash == events[0].hash
        assert audit.verify().ok
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 3 events" in result.output


def test_verify_finds_an_altered_event(app: Flask, runner: FlaskCliRunner) -> None:
    _record_three(app)
    with app.app_context():
        db.session.execute(sa.update(AuditEvent).where(AuditEvent.seq == 2)
                           .values(details='{"n": 99}'))
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code != 0
    assert "event 2 was altered" in result.output


def test_verify_finds_a_deleted_event(app: Flask, runner: FlaskCliRunner) -> None:
    _record_three(app)
    with app.app_context():
        db.session.execute(sa.delete(AuditEvent).where(AuditEvent.seq == 3))
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code != 0
    assert "removed" in result.output
