"""The shipped policies (AIU v1.0 and the JCQ further-education example) import, and a
placement can follow either on one platform: the learner's card, the declaration and its
receipt are those of the placement's policy, through whole launches."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from lti_tool.declarations.models import Declaration, PlacementSettings
from lti_tool.extensions import db
from lti_tool.policy import service as policies
from tests.declarations.test_declarations import GOOD, deep_link
from tests.support.browser import FormBrowser, launch
from tests.support.pages import post_form

CONFIG = Path(__file__).resolve().parents[2] / "config" / "policy"
SHIPPED = sorted(CONFIG.glob("*.json"))
JCQ = CONFIG / "jcq-fe-1.0.json"
JCQ_GOOD = {**GOOD, "permitted_uses": ["explain", "revision"]}


def _checked(html: str, name: str) -> str | None:
    """The value of the ticked radio button ``name`` on the page."""
    for tag in re.findall(r"<input[^>]*>", html):
        if f'name="{name}"' in tag and re.search(r"\schecked[\s>]", tag):
            found = re.search(r'value="([^"]*)"', tag)
            return found.group(1) if found else None
    return None


def test_both_example_policies_ship() -> None:
    assert {p.name for p in SHIPPED} >= {"aiu-1.0.json", "jcq-fe-1.0.json"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_policy_imports_and_publishes(app: Flask, runner: Any, path: Path) -> None:
    result = runner.invoke(args=["policy", "import", str(path), "--publish"])
    assert result.exit_code == 0, result.output
    data = json.loads(path.read_text("utf-8"))
    with app.app_context():
        policy = policies.published(data["reference"])
        assert policy is not None and policy.version == data["version"]
        rules = policy.rules
        assert len(rules.stages) == len(data["stages"])
        for stage in rules.stages:
            assert stage.outcomes, stage.number


def test_the_jcq_example_differs_in_every_rule(app: Flask, runner: Any) -> None:
    with app.app_context():
        aiu = policies.current_or_bundled().rules
        db.session.commit()
    assert runner.invoke(args=["policy", "import", str(JCQ), "--publish"]).exit_code == 0
    with app.app_context():
        assert policies.current_or_bundled().label == "AIU v1.0"  # still the default
        jcq = policies.published("NFC-AI")
        assert jcq is not None
        rules = jcq.rules
    assert rules.last_stage == 4 and aiu.last_stage == 3
    assert rules.counting.scope == "qualification" and aiu.counting.scope == "platform"
    assert all(b.reports_on_suspicion and b.reporting.unless_before_authentication
               for b in rules.awarding_bodies)
    assert not any(b.reports_on_suspicion for b in aiu.awarding_bodies)
    assert {b.key for b in rules.awarding_bodies}.isdisjoint(
        {b.key for b in aiu.awarding_bodies})
    assert rules.case_process != aiu.case_process and rules.retention != aiu.retention
    assert {o.key for o in rules.outcomes}.isdisjoint({o.key for o in aiu.outcomes})
    assert [o.key for o in rules.stage(2).outcomes] == ["integrity_interview",
                                                        "supervised_rewrite"]


@pytest.fixture
def two_policies(app: Flask, registered: Any, runner: Any) -> None:
    """AIU v1.0 is the platform's policy; the JCQ example is published beside it."""
    with app.app_context():
        policies.current_or_bundled()
        db.session.commit()
    assert runner.invoke(args=["policy", "import", str(JCQ), "--publish"]).exit_code == 0


def _jcq_activity(moodle: Any) -> Any:
    """A teacher places an activity and chooses the JCQ policy for it: the form first
    shows the platform's choices, then the chosen policy's, and saves the second time."""
    placed = len(moodle.deep_link_results)
    with FormBrowser() as teacher:
        form = launch(teacher, moodle, "marker1", message_type="LtiDeepLinkingRequest")
        assert "The policy this assignment follows" in form.text
        assert "(AIU v1.0): this Moodle site&#39;s policy" in form.text
        assert _checked(form.text, "policy_reference") == "AIU"
        assert 'value="CIPD"' in form.text and 'value="PEARSON"' not in form.text
        again = post_form(teacher, form, {
            "policy_reference": "NFC-AI", "shown_policy": "AIU", "title": "Unit 3 declaration",
            "assignment_name": "Unit 3 assignment", "qualification": "CIPD",
            "permitted_uses": ["reading"]})
        assert again.status_code == 200, again.text
        assert "This assignment will follow Use of AI in Assessments" in again.text
        assert 'value="PEARSON"' in again.text and 'value="CIPD"' not in again.text
        assert len(moodle.deep_link_results) == placed
        done = post_form(teacher, again, {
            "policy_reference": "NFC-AI", "shown_policy": "NFC-AI",
            "title": "Unit 3 declaration", "assignment_name": "Unit 3 assignment",
            "qualification": "PEARSON", "permitted_uses": ["explain", "revision"]})
        assert done.status_code == 200, done.text
        assert moodle.deep_link_results[-1].ok
        return moodle.activities[moodle.deep_link_results[-1].activity_ids[0]]


def test_two_policies_on_one_platform(app: Flask, two_policies: None, moodle: Any,
                                      browser: FormBrowser) -> None:
    with FormBrowser() as teacher:
        aiu_activity = deep_link(teacher, moodle, title="Unit 1 declaration")
    jcq_activity = _jcq_activity(moodle)
    with app.app_context():
        saved = db.session.scalars(sa.select(PlacementSettings).order_by(
            PlacementSettings.id)).all()
        assert [(s.policy_reference, s.qualification) for s in saved] == [
            ("AIU", "CIPD"), ("NFC-AI", "PEARSON")]

    # The JCQ activity: its card, its declaration, its receipt.
    card = launch(browser, moodle, "learner1", jcq_activity.id)
    assert card.status_code == 200, card.text
    assert "Asking an AI tool to explain a topic you are studying." in card.text
    assert "Stage 4:" in card.text and "Sourcing recommendations" not in card.text
    assert "Leep Talent" not in card.text
    full = browser.open(card.url + "/policy")
    assert "Use of AI in Assessments (Northfield College, JCQ centre)" in full.text
    form = browser.open(card.url + "/declare")
    assert form.status_code == 200
    assert "personal data about myself or anyone else" in form.text
    assert "explain a topic" in form.text and "reading" not in re.findall(
        r'name="permitted_uses" [^>]*value="(\w+)"', form.text)
    receipt = post_form(browser, form, JCQ_GOOD)
    assert receipt.status_code == 200, receipt.text
    assert "NFC-AI v1.0" in receipt.text

    # The AIU activity on the same platform keeps AIU v1.0.
    other = launch(browser, moodle, "learner1", aiu_activity.id)
    assert "Sourcing recommendations for wider academic reading." in other.text
    assert "Stage 4:" not in other.text
    done = post_form(browser, browser.open(other.url + "/declare"), GOOD)
    assert done.status_code == 200 and "AIU v1.0" in done.text

    with app.app_context():
        labels = [d.policy_version.label for d in db.session.scalars(
            sa.select(Declaration).order_by(Declaration.id))]
        assert labels == ["NFC-AI v1.0", "AIU v1.0"]
        first = db.session.scalars(sa.select(Declaration).order_by(Declaration.id)).first()
        assert first is not None
        assert "personal data about myself or anyone else" in first.statements


def test_a_policy_not_offered_for_the_placement_is_refused(
        app: Flask, two_policies: None, moodle: Any) -> None:
    """Awarding bodies and permitted uses are checked against the chosen policy."""
    with FormBrowser() as teacher:
        form = launch(teacher, moodle, "marker1", message_type="LtiDeepLinkingRequest")
        refused = post_form(teacher, form, {
            "policy_reference": "NFC-AI", "title": "T", "assignment_name": "A",
            "qualification": "CIPD", "permitted_uses": ["explain"]})
    assert refused.status_code == 400
    assert "Choose Pearson (BTEC) or OCR or City &amp; Guilds or NCFE." in refused.text
    assert moodle.deep_link_results == []


def test_a_platform_can_follow_another_policy(app: Flask, registered: Any, moodle: Any,
                                              runner: Any, browser: FormBrowser) -> None:
    """``flask policy use``: the platform's policy is the one new placements follow (and
    those never set up); a placement already set up keeps the policy its settings name."""
    with FormBrowser() as teacher:
        activity = deep_link(teacher, moodle)
    assert runner.invoke(args=["policy", "import", str(JCQ), "--publish"]).exit_code == 0
    with app.app_context():
        platform_id = db.session.scalar(sa.select(PlacementSettings.platform_id))
    refused = runner.invoke(args=["policy", "use", "NOPE", "--platform", str(platform_id)])
    assert refused.exit_code != 0 and "has no published version" in refused.output
    used = runner.invoke(args=["policy", "use", "NFC-AI", "--platform", str(platform_id)])
    assert used.exit_code == 0, used.output
    page = launch(browser, moodle, "learner1", activity.id)
    assert "Sourcing recommendations" in page.text and "Stage 4:" not in page.text
    with FormBrowser() as teacher:
        form = launch(teacher, moodle, "marker1", message_type="LtiDeepLinkingRequest")
        assert _checked(form.text, "policy_reference") == "NFC-AI"
        assert 'value="PEARSON"' in form.text
    assert runner.invoke(args=["policy", "use", "--platform", str(platform_id)]).exit_code == 0
    with FormBrowser() as teacher:
        form = launch(teacher, moodle, "marker1", message_type="LtiDeepLinkingRequest")
        assert _checked(form.text, "policy_reference") == "AIU"
