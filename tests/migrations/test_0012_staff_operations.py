"""Migration 0012 keeps every existing request and roster member: the old "What for" text
becomes the start of the reason (ALS only) and the purpose is left empty; people on cached
rosters become people the tool knows, not launched yet."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask_migrate import upgrade

from lti_tool import create_app
from lti_tool.extensions import db
from tests.conftest import TEST_SECRET

NOW = datetime(2026, 11, 1, 10, tzinfo=UTC)


def _inserter(conn: Any) -> Callable[..., None]:
    """Rows written as the schema at revision 0009 has them (no models: they are newer)."""

    def add(table: str, **values: Any) -> None:
        conn.execute(sa.table(table, *map(sa.column, values)).insert().values(**values))

    return add


def test_old_requests_and_rosters_survive_the_upgrade(tmp_path: Path) -> None:
    uri = "sqlite:///" + str(tmp_path / "old.sqlite")
    app = create_app({"SECRET_KEY": TEST_SECRET, "SQLALCHEMY_DATABASE_URI": uri,
                      "ALLOW_INSECURE": True, "TESTING": True})
    with app.app_context():
        upgrade(revision="0010_cases")
        with db.engine.begin() as conn:
            add = _inserter(conn)
            add("platform", id=1, issuer="https://m.example", client_id="c",
                auth_login_url="https://m.example/a", auth_token_url="https://m.example/t",
                key_set_url="https://m.example/k", name="M", granted_scopes="",
                registered_via="manual", active=True, created_at=NOW, updated_at=NOW)
            add("person", id=1, platform_id=1, sub="3", name="Lena", given_name="",
                family_name="", email="l@example.test", username="", sourcedid="",
                is_platform_admin=False, created_at=NOW, last_launch_at=NOW)
            add("course", id=1, platform_id=1, context_id="2", label="C", title="Course",
                created_at=NOW)
            for sub, name in (("3", "Lena"), ("9", "Nia Never")):
                add("course_member", course_id=1, sub=sub, name=name,
                    email=f"{sub}@example.test", roles="Learner", is_learner=True, active=True,
                    fetched_at=NOW)
            for rid, detail in ((1, ""), (2, "Agreed adjustment.")):
                add("ai_tool_request", id=rid, platform_id=1, person_id=1, course_id=1,
                    tool_name="Copilot", purpose="because of my dyslexia",
                    reason="accessibility", reason_detail=detail, scope="course",
                    supporting_detail="", status="pending", version=1, created_at=NOW,
                    updated_at=NOW)
        upgrade()
        with db.engine.connect() as conn:
            requests = conn.execute(sa.text(
                "SELECT purpose, reason_detail FROM ai_tool_request ORDER BY id")).all()
            people = conn.execute(sa.text(
                "SELECT sub, name, email, first_launch_at IS NOT NULL FROM person"
                " ORDER BY sub")).all()
        db.engine.dispose()
    assert requests == [("", "because of my dyslexia"),
                        ("", "because of my dyslexia\n\nAgreed adjustment.")]
    assert people == [("3", "Lena", "l@example.test", 1),
                      ("9", "Nia Never", "9@example.test", 0)]
