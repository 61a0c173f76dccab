"""The audit trail stays verifiable: personal data sits outside the hash (redactable), and
the chain's daily head is anchored outside the database, so a rewritten and rehashed chain
is found."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from lti_tool.audit import anchors
from lti_tool.audit import service as audit
from lti_tool.audit.models import AuditEvent, AuditHead
from lti_tool.extensions import db
from tests.cases.flows import wait_for
from tests.conftest import SmtpSink


def test_personal_data_is_outside_the_hash_and_redacting_it_keeps_the_chain(
        app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        event = audit.record("system", "thing.sent", "thing", 7,
                             {"to": "lena@example.test", "n": 1})
        audit.record("system", "thing.done", "thing", 8, {"n": 2})
        db.session.commit()
        assert json.loads(event.details) == {"n": 1}
        assert json.loads(event.personal or "{}") == {"to": "lena@example.test"}
        assert audit.redact("thing", ["7"]) == 1
        db.session.commit()
        assert db.session.get(AuditEvent, event.id).personal is None  # type: ignore[union-attr]
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "intact: 2 events" in result.output


def _rewrite_and_rehash(app: Flask) -> None:
    """What someone who can write the database could do: change an event and rehash the
    chain from there, head included, so that it fits together again."""
    with app.app_context():
        events = list(db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)))
        events[0].details = '{"n": 99}'
        prev = events[0].prev_hash
        for e in events:
            e.prev_hash = prev
            e.hash = audit._digest(prev, e.seq, audit._timestamp(e), e.actor, e.action,
                                   e.object_type, e.object_id, e.details)
            prev = e.hash
        head = db.session.get(AuditHead, 1)
        assert head is not None
        head.last_hash = prev
        db.session.commit()
        assert audit.verify().ok  # the chain alone cannot tell


def test_the_worker_anchors_the_head_and_verify_finds_a_rehashed_chain(
        app: Flask, runner: FlaskCliRunner, smtp: SmtpSink, tmp_path: Path) -> None:
    anchor_file = tmp_path / "witness" / "audit-anchors.jsonl"
    app.config.update(AUDIT_ANCHOR_FILE=str(anchor_file),
                      AUDIT_ANCHOR_EMAIL="records@example.test")
    with app.app_context():
        for n in range(3):
            audit.record("cli:test", "thing.done", "thing", n, {"n": n})
        db.session.commit()
    assert runner.invoke(args=["worker", "--once"]).exit_code == 0
    lines = anchor_file.read_text().splitlines()
    assert len(lines) == 1
    anchor = json.loads(lines[0])
    with app.app_context():
        head = db.session.get(AuditHead, 1)
        assert head is not None and anchor["seq"] == head.seq >= 3
        assert anchor["hash"] == head.last_hash
    assert stat.S_IMODE(os.stat(anchor_file).st_mode) == 0o600
    assert wait_for(lambda: any(m["To"] == "records@example.test" for m in smtp.messages))
    mail = next(m for m in smtp.messages if m["To"] == "records@example.test")
    plain = next(part for part in mail.walk() if part.get_content_type() == "text/plain")
    assert anchor["hash"] in plain.get_payload(decode=True).decode()

    assert runner.invoke(args=["worker", "--once"]).exit_code == 0
    assert len(anchor_file.read_text().splitlines()) == 1  # once a day
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0 and "matching 1 anchor" in ok.output, ok.output

    _rewrite_and_rehash(app)
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code != 0
    assert "rewritten" in broken.output


def test_verify_finds_a_chain_cut_below_its_anchor(app: Flask, runner: FlaskCliRunner,
                                                   tmp_path: Path) -> None:
    app.config.update(AUDIT_ANCHOR_FILE=str(tmp_path / "a.jsonl"))
    with app.app_context():
        for n in range(3):
            audit.record("cli:test", "thing.done", "thing", n, {"n": n})
        anchors.write_anchor()
        db.session.commit()
        db.session.execute(sa.delete(AuditEvent).where(AuditEvent.seq == 3))
        db.session.execute(sa.update(AuditHead).values(
            seq=2, last_hash=sa.select(AuditEvent.hash).where(AuditEvent.seq == 2)
            .scalar_subquery()))
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code != 0 and "removed" in result.output


def test_the_anchor_file_may_not_live_in_the_instance_folder(app: Flask) -> None:
    app.config["AUDIT_ANCHOR_FILE"] = os.path.join(app.instance_path, "anchors.jsonl")
    with app.app_context(), pytest.raises(anchors.AnchorError, match="outside the instance"):
        anchors.write_anchor()
