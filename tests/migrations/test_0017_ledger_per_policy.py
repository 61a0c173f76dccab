"""Migration 0017 keeps every learner's stage: existing ledger rows go to the ledger of the
policy that was in force (the most recently published), the stage check then allows any
number of stages, and the same ordinal may be held once per ledger. AIU v1.0's stored copy
gains the words the decision letter used for each outcome."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.exc import IntegrityError

from lti_tool import create_app
from lti_tool.extensions import db
from tests.conftest import TEST_SECRET

NOW = datetime(2026, 11, 1, 10, tzinfo=UTC)
BUNDLED = Path(__file__).resolve().parents[2] / "config" / "policy" / "aiu-1.0.json"


def _filler(column: sa.Column[Any]) -> Any:
    """A value for a required column the test does not care about."""
    kind = column.type.python_type
    return {int: 0, str: "", bool: False, datetime: NOW}.get(kind, None)


def _insert(conn: Any, table_name: str, **values: Any) -> None:
    """A row as the schema at 0016 has it: required columns the test does not name get a
    neutral value (no models: they are newer)."""
    table = sa.Table(table_name, sa.MetaData(), autoload_with=conn)
    row = {c.name: _filler(c) for c in table.columns
           if not c.nullable and c.server_default is None and not c.primary_key}
    row.update(values)
    conn.execute(table.insert().values(**row))


def test_stages_survive_and_ledgers_are_per_policy(tmp_path: Path) -> None:
    uri = "sqlite:///" + str(tmp_path / "old.sqlite")
    app = create_app({"SECRET_KEY": TEST_SECRET, "SQLALCHEMY_DATABASE_URI": uri,
                      "ALLOW_INSECURE": True, "TESTING": True})
    bundled = json.loads(BUNDLED.read_text("utf-8"))
    before = {**bundled, "outcomes": [{k: v for k, v in o.items() if k != "learner_next"}
                                      for o in bundled["outcomes"]]}
    stored = json.dumps(before, sort_keys=True, ensure_ascii=False)
    with app.app_context():
        upgrade(revision="0016_case_checks_and_clocks")
        with db.engine.begin() as conn:
            _insert(conn, "platform", id=1, issuer="https://m.example", client_id="c",
                    auth_login_url="https://m.example/a", auth_token_url="https://m.example/t",
                    key_set_url="https://m.example/k", name="M", registered_via="manual",
                    active=True, created_at=NOW, updated_at=NOW)
            _insert(conn, "person", id=1, platform_id=1, sub="3", name="Lena")
            _insert(conn, "person", id=2, platform_id=1, sub="5", name="Maria")
            _insert(conn, "course", id=1, platform_id=1, context_id="2", title="Course")
            _insert(conn, "deployment", id=1, platform_id=1, deployment_id="1", active=True)
            _insert(conn, "placement", id=1, course_id=1, deployment_id=1,
                    resource_link_id="r1")
            _insert(conn, "policy_version", id=1, reference="AIU", version="1.0",
                    title=bundled["title"], content=stored,
                    content_hash=hashlib.sha256(stored.encode("utf-8")).hexdigest(),
                    status="published", published_at=NOW, imported_by="system")
            for n in (1, 2, 3, 4):
                _insert(conn, "incident", id=n, platform_id=1, learner_id=1, course_id=1,
                        placement_id=1, raised_by_id=2, raised_at=NOW, source="observation",
                        observations="o", state="closed", outcome="upheld",
                        stage=min(n, 3), stage_action="marked_and_advised")
                _insert(conn, "stage_ledger", platform_id=1, learner_id=1, incident_id=n,
                        ordinal=n, stage=min(n, 3), action="marked_and_advised",
                        assigned_at=NOW, assigned_by_id=2)
            for n in (5, 6):  # cases with no stage yet
                _insert(conn, "incident", id=n, platform_id=1, learner_id=1, course_id=1,
                        placement_id=1, raised_by_id=2, raised_at=NOW, source="observation",
                        observations="o", state="answered")
        upgrade()
        with db.engine.begin() as conn:
            rows = conn.execute(sa.text(
                "SELECT ledger_key, ordinal, stage FROM stage_ledger ORDER BY ordinal")).all()
            content = json.loads(conn.execute(sa.text(
                "SELECT content FROM policy_version WHERE id = 1")).scalar_one())
            # Another ledger may hold the same ordinal; a fourth stage is allowed.
            conn.execute(sa.text(
                "INSERT INTO stage_ledger (platform_id, learner_id, incident_id, ledger_key,"
                " ordinal, stage, action, removal_flag, disciplinary_flag, assigned_at,"
                " assigned_by_id) VALUES (1, 1, 5, 'NFC-AI/PEARSON', 4, 4, 'x', false,"
                " false, :at, 2)"), {"at": NOW})
        for ordinal, stage, key in ((4, 3, "AIU"), (2, 3, "JCQ"), (1, 0, "JCQ")):
            with pytest.raises(IntegrityError), db.engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO stage_ledger (platform_id, learner_id, incident_id,"
                    " ledger_key, ordinal, stage, action, removal_flag, disciplinary_flag,"
                    " assigned_at, assigned_by_id) VALUES (1, 1, 6, :key, :ordinal, :stage,"
                    " 'x', false, false, :at, 2)"),
                    {"key": key, "ordinal": ordinal, "stage": stage, "at": NOW})
        db.engine.dispose()
    assert [tuple(r) for r in rows] == [("AIU", 1, 1), ("AIU", 2, 2), ("AIU", 3, 3),
                                        ("AIU", 4, 3)]
    assert content == bundled
    assert content["outcomes"][0]["learner_next"] == (
        "Your work will be marked. Please do not submit work in the same way again.")
