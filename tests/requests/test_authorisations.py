"""``active_authorisations``: approved, unexpired, unrevoked; by scope, course, placement and
time. And the service's refusals. Direct service calls on a small world (no HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Course, CourseRole, Person, Placement
from lti_tool.platforms import service as platforms
from lti_tool.requests import service
from lti_tool.requests.models import AiToolRequest, RequestDecision

TOMORROW = utcnow().date() + timedelta(days=1)
NEXT_YEAR = utcnow().date() + timedelta(days=365)


@dataclass
class World:
    learner: Person
    als: Person
    course_a: Course
    course_b: Course
    a1: Placement
    a2: Placement
    b1: Placement


def build_world() -> World:
    """A platform, a learner, an ALS member, two courses and three placements (flushed)."""
    platform = platforms.upsert_platform(
        issuer="https://moodle.example.ac.uk", client_id="c", deployment_id="1",
        auth_login_url="https://m/a", auth_token_url="https://m/t", key_set_url="https://m/k",
        name=None, actor="test")
    deployment = platform.deployments[0]
    learner = Person(platform_id=platform.id, sub="3", name="Lena Learner",
                     email="learner1@example.test")
    als = Person(platform_id=platform.id, sub="6", name="Alex Support")
    course_a = Course(platform_id=platform.id, context_id="2", title="CIPD")
    course_b = Course(platform_id=platform.id, context_id="3", title="CMI")
    db.session.add_all([learner, als, course_a, course_b])
    db.session.flush()
    a1, a2, b1 = (Placement(course_id=c.id, deployment_id=deployment.id,
                            resource_link_id=link, title=link)
                  for c, link in ((course_a, "A1"), (course_a, "A2"), (course_b, "B1")))
    db.session.add_all([a1, a2, b1])
    db.session.add_all([CourseRole(person_id=learner.id, course_id=c.id, role="learner")
                        for c in (course_a, course_b)])
    db.session.flush()
    return World(learner, als, course_a, course_b, a1, a2, b1)


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    with app.app_context():
        yield build_world()
        db.session.rollback()


def _ask(w: World, scope: str, placement: Placement | None = None,
         tool: str = "Copilot") -> AiToolRequest:
    return service.create_request(w.learner, placement or w.a1, service.NewRequest(
        tool_name=tool, purpose="Reading lists", reason="language", scope=scope))


def _approve(w: World, req: AiToolRequest, scope: str | None = None,
             expires_on: date = NEXT_YEAR) -> RequestDecision:
    return service.decide(req, w.als, version=req.version, outcome="approved",
                          conditions="Before starting only", scope=scope or req.scope,
                          expires_on=expires_on)


def _where(w: World, **kwargs: int) -> list[str]:
    return [a.tool_name for a in service.active_authorisations(w.learner.id, **kwargs)]


def test_scopes_decide_where_an_authorisation_applies(world: World) -> None:
    w = world
    _approve(w, _ask(w, "assignment", tool="Only A1"))
    _approve(w, _ask(w, "course", tool="All of A"))
    _approve(w, _ask(w, "qualification", tool="Everywhere"))
    assert _where(w) == ["All of A", "Everywhere", "Only A1"]
    assert _where(w, placement_id=w.a1.id) == ["All of A", "Everywhere", "Only A1"]
    assert _where(w, placement_id=w.a2.id) == ["All of A", "Everywhere"]
    assert _where(w, placement_id=w.b1.id) == ["Everywhere"]
    assert _where(w, course_id=w.course_a.id) == ["All of A", "Everywhere", "Only A1"]
    assert _where(w, course_id=w.course_b.id) == ["Everywhere"]
    (only,) = service.active_authorisations(w.learner.id, placement_id=w.b1.id)
    assert only.applies_to == "the whole qualification (asked for in CIPD)"
    assert only.conditions == "Before starting only" and only.expires_on == NEXT_YEAR


def test_the_als_scope_replaces_the_requested_one(world: World) -> None:
    w = world
    _approve(w, _ask(w, "qualification"), scope="assignment")
    assert _where(w, placement_id=w.a1.id) == ["Copilot"]
    assert _where(w, placement_id=w.b1.id) == []


def test_expired_authorisations_are_not_active(world: World) -> None:
    w = world
    _approve(w, _ask(w, "course"), expires_on=TOMORROW)
    assert _where(w) == ["Copilot"]
    end_of_tomorrow = utcnow() + timedelta(days=1)
    assert [a.tool_name for a in service.active_authorisations(
        w.learner.id, at=end_of_tomorrow)] == ["Copilot"]  # the expiry day itself counts
    after = utcnow() + timedelta(days=2)
    assert service.active_authorisations(w.learner.id, at=after) == []


def test_revoked_declined_and_open_requests_are_not_active_and_history_is_kept(
        world: World) -> None:
    w = world
    revoked = _ask(w, "course", tool="Revoked")
    _approve(w, revoked)
    approved_at = utcnow()
    service.decide(revoked, w.als, version=revoked.version, outcome="revoked",
                   reason="Plan ended")
    declined = _ask(w, "course", tool="Declined")
    service.decide(declined, w.als, version=declined.version, outcome="declined",
                   reason="Not needed")
    asked = _ask(w, "course", tool="Asked")
    service.decide(asked, w.als, version=asked.version, outcome="more_info", question="Why?")
    _ask(w, "course", tool="Pending")
    assert _where(w) == []
    # What held at a moment in the past is still known (e.g. when a declaration was made).
    assert [a.tool_name for a in service.active_authorisations(
        w.learner.id, at=approved_at)] == ["Revoked"]
    before_anything = approved_at - timedelta(hours=1)
    assert service.active_authorisations(w.learner.id, at=before_anything) == []


def test_decisions_are_refused_when_incomplete_stale_or_not_allowed(world: World) -> None:
    w = world
    req = _ask(w, "course")
    with pytest.raises(service.InvalidAction, match="in the future"):
        _approve(w, req, expires_on=utcnow().date())
    with pytest.raises(service.InvalidAction, match="conditions"):
        service.decide(req, w.als, version=req.version, outcome="approved", conditions=" ",
                       scope="course", expires_on=NEXT_YEAR)
    with pytest.raises(service.InvalidAction, match="your own request"):
        service.decide(req, w.learner, version=req.version, outcome="declined", reason="x")
    with pytest.raises(service.InvalidAction, match="not possible"):
        service.decide(req, w.als, version=req.version, outcome="revoked", reason="x")
    _approve(w, req)
    with pytest.raises(service.RequestChanged):  # decided on the version before
        service.decide(req, w.als, version=1, outcome="declined", reason="x")
    service.withdraw(_ask(w, "course", tool="Gone"), w.learner, version=1)
    gone = db.session.scalar(sa.select(AiToolRequest).where(AiToolRequest.tool_name == "Gone"))
    assert gone is not None and gone.status == "withdrawn"
    with pytest.raises(service.InvalidAction, match="not possible"):
        service.decide(gone, w.als, version=gone.version, outcome="approved",
                       conditions="c", scope="course", expires_on=NEXT_YEAR)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestDecision)) == 1


def test_decisions_cannot_be_changed_once_written(world: World) -> None:
    from lti_tool.requests.models import ImmutableRecord

    w = world
    decision = _approve(w, _ask(w, "course"))
    decision.conditions = "Anything goes"
    with pytest.raises(ImmutableRecord):
        db.session.flush()
    db.session.rollback()


def test_timeline_and_age(world: World) -> None:
    w = world
    req = _ask(w, "course")
    service.decide(req, w.als, version=1, outcome="more_info", question="Which plan?")
    service.answer(req, w.learner, version=2, text="SP-12")
    _approve(w, req)
    assert [e.kind for e in service.timeline(req)] == ["submitted", "decision", "reply",
                                                       "decision"]
    now = utcnow()
    assert service.describe_age(now - timedelta(minutes=5), now) == "under an hour"
    assert service.describe_age(now - timedelta(hours=1), now) == "1 hour"
    assert service.describe_age(now - timedelta(days=3, hours=2), now) == "3 days"
