"""Two ALS members deciding the same version at the same moment: the second waits for the
first's transaction and then finds the request changed (PostgreSQL's row lock, SQLite's
write lock), so exactly one decision is written."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.requests import service
from lti_tool.requests.models import AiToolRequest, RequestDecision
from tests.requests.test_authorisations import build_world


def test_the_second_decision_waits_then_is_refused(app: Flask) -> None:
    with app.app_context():
        w = build_world()
        req = service.create_request(w.learner, w.a1, service.NewRequest(
            tool_name="Copilot", purpose="Reading", reason="language", scope="course"))
        second = Person(platform_id=w.als.platform_id, sub="5", name="Maria Marker")
        db.session.add(second)
        db.session.commit()
        ids = (req.id, w.als.id, second.id)

    first_wrote = threading.Event()
    second_trying = threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with app.app_context():
            row = db.session.get(AiToolRequest, ids[0])
            als = db.session.get(Person, ids[1])
            assert row is not None and als is not None
            service.decide(row, als, version=1, outcome="approved", conditions="Plan only",
                           scope="course", expires_on=utcnow().date() + timedelta(days=30))
            first_wrote.set()
            second_trying.wait(5)
            time.sleep(0.3)  # the second is now blocked on the row (or write) lock
            outcome["first_commit"] = time.monotonic()
            db.session.commit()

    def other() -> None:
        with app.app_context():
            row = db.session.get(AiToolRequest, ids[0])
            als = db.session.get(Person, ids[2])
            assert row is not None and als is not None and row.version == 1
            first_wrote.wait(5)
            second_trying.set()
            try:
                service.decide(row, als, version=1, outcome="declined", reason="No")
            except service.RequestChanged:
                outcome["second"] = "refused"
            else:
                outcome["second"] = "decided"
            outcome["second_done"] = time.monotonic()
            db.session.rollback()

    threads = [threading.Thread(target=first), threading.Thread(target=other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcome["second"] == "refused"
    assert outcome["second_done"] >= outcome["first_commit"]  # type: ignore[operator]
    with app.app_context():
        decisions = list(db.session.scalars(sa.select(RequestDecision)))
        assert [d.outcome for d in decisions] == ["approved"]
        row = db.session.get(AiToolRequest, ids[0])
        assert row is not None and row.status == "approved" and row.version == 2
