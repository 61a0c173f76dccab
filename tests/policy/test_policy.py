"""The policy as versioned data: the bundled 1.0 is faithful and imports cleanly; versions
never change once imported."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.policy import service as policies

# A copy of the published policy (see tests/data/README.md for its source).
POLICY_TEXT = (Path(__file__).resolve().parents[1] / "data" / "policy"
               / "learner-ai-usage-policy-v1.0.txt")


def test_bundled_policy_is_installed_on_first_use(app: Flask) -> None:
    with app.app_context():
        policy = policies.current_or_bundled()
        db.session.commit()
        assert policy.label == "AIU v1.0"
        assert [u.key for u in policy.permitted_uses] == ["reading", "planning", "criteria"]
        assert [s["stage"] for s in policy["stages"]] == [1, 2, 3]
        assert policies.current_or_bundled().id == policy.id


def test_bundled_policy_quotes_the_policy_text_word_for_word() -> None:
    text = " ".join(POLICY_TEXT.read_text("utf-8").split())
    data = json.loads(policies.BUNDLED.read_text("utf-8"))
    quoted = [data["timing_rule"], data["prohibited_rule"], data["data_protection"],
              data["misuse"], data["detection_process"], data["detection"], data["scope"],
              data["statement"], data["permitted_intro"],
              data["purpose_intro"], data["marker_responsibilities_intro"],
              *data["policy_statement"], *data["purpose"], *data["what_is_ai"],
              *data["principles"], *data["authenticity"], *data["marker_responsibilities"],
              *(u["text"] for u in data["permitted_uses"]),
              *(u["text"] for u in data["prohibited_uses"]),
              *(s["text"] for s in data["stages"]),
              *(words for q in data["comprehension"] for words in q["because"])]
    for sentence in quoted:
        assert " ".join(sentence.split()) in text, sentence


def test_comprehension_questions_are_answerable_from_the_policy() -> None:
    data = json.loads(policies.BUNDLED.read_text("utf-8"))
    questions = data["comprehension"]
    assert len(questions) == 3 and len({q["key"] for q in questions}) == 3
    for q in questions:
        assert q["answer"] in {c["key"] for c in q["choices"]}, q["key"]
        assert q["because"], q["key"]


def _write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), "utf-8")
    return str(path)


def test_cli_import_publish_and_list(app: Flask, runner: Any, tmp_path: Path) -> None:
    result = runner.invoke(args=["policy", "import", str(policies.BUNDLED), "--publish"])
    assert result.exit_code == 0, result.output
    assert "Imported AIU v1.0 and published it." in result.output
    again = runner.invoke(args=["policy", "import", str(policies.BUNDLED)])
    assert "Already imported" in again.output
    data = json.loads(policies.BUNDLED.read_text("utf-8"))
    data["version"] = "2.0"
    assert runner.invoke(args=["policy", "import", _write(tmp_path, "v2.json", data)]
                         ).exit_code == 0
    listing = runner.invoke(args=["policy", "list"]).output
    assert "AIU v1.0" in listing and "published" in listing and "draft" in listing
    assert runner.invoke(args=["policy", "publish", "2.0"]).exit_code == 0
    listing = runner.invoke(args=["policy", "list"]).output
    assert "retired" in listing


@pytest.mark.parametrize("content,message", [
    ("{not json", "not valid JSON"),
    ([], "JSON object"),
    ({"reference": "AIU"}, "missing"),
])
def test_bad_policy_files_are_refused(app: Flask, runner: Any, tmp_path: Path, content: Any,
                                      message: str) -> None:
    result = runner.invoke(args=["policy", "import", _write(tmp_path, "bad.json", content)])
    assert result.exit_code != 0 and message in result.output


def test_a_version_never_changes(app: Flask, runner: Any, tmp_path: Path) -> None:
    runner.invoke(args=["policy", "import", str(policies.BUNDLED)])
    data = json.loads(policies.BUNDLED.read_text("utf-8"))
    data["timing_rule"] = "Something else."
    result = runner.invoke(args=["policy", "import", _write(tmp_path, "changed.json", data)])
    assert result.exit_code != 0 and "already exists with different content" in result.output


def test_publishing_an_unknown_version(app: Flask, runner: Any) -> None:
    result = runner.invoke(args=["policy", "publish", "9.9"])
    assert result.exit_code != 0 and "no policy version 9.9" in result.output


@pytest.mark.parametrize("questions", [
    "not a list",
    [{"key": "q", "question": "Can you?", "choices": [{"key": "yes", "text": "Yes"}],
      "answer": "yes", "because": ["x"]}],
    [{"key": "q", "question": "Can you?", "choices": [{"key": "yes", "text": "Yes"},
                                                      {"key": "no", "text": "No"}],
      "answer": "maybe", "because": ["x"]}],
    [{"key": "q", "question": "Can you?", "choices": [{"key": "yes", "text": "Yes"},
                                                      {"key": "no", "text": "No"}],
      "answer": "no", "because": []}],
])
def test_bad_comprehension_questions_are_refused(app: Flask, runner: Any, tmp_path: Path,
                                                 questions: Any) -> None:
    data = json.loads(policies.BUNDLED.read_text("utf-8"))
    data["version"] = "9.0"
    data["comprehension"] = questions
    result = runner.invoke(args=["policy", "import", _write(tmp_path, "bad.json", data)])
    assert result.exit_code != 0 and "comprehension" in result.output


def _bundled() -> dict[str, Any]:
    return dict(json.loads(policies.BUNDLED.read_text("utf-8")))


def _edited(edit: Any) -> dict[str, Any]:
    data = _bundled()
    data["version"] = "9.1"
    edit(data)
    return data


@pytest.mark.parametrize("edit,message", [
    (lambda d: d["stages"][2].pop("text"), "stages[2].text: required field is missing"),
    (lambda d: d["stages"][1].update(text="  "), "stages[1].text: must not be empty"),
    (lambda d: d["stages"][1].update(stage=3), "stages[1].stage: must be 2"),
    (lambda d: d["stages"][0].update(outcomes=["caution"]),
     "stages[0].outcomes[0]: 'caution' is not one of the outcomes"),
    (lambda d: d["counting"].update(scope="course"),
     'counting.scope: must be one of "platform", "qualification"'),
    (lambda d: d["awarding_bodies"][1]["reporting"].pop("stage"),
     "awarding_bodies[1].reporting.stage: required field is missing"),
    (lambda d: d["awarding_bodies"][0]["reporting"].update(stage=4),
     "awarding_bodies[0].reporting.stage: there is no stage 4"),
    (lambda d: d["case_process"].update(appeal_window_days="two weeks"),
     "case_process.appeal_window_days: must be a whole number"),
    (lambda d: d["permitted_uses"].append({"key": "reading", "text": "Again."}),
     "permitted_uses[3].key: 'reading' is used twice"),
    (lambda d: d.update(issue_date="5 May 2026"), "issue_date: must be a date written YYYY-MM-DD"),
    (lambda d: d["outcomes"][0].update(colour="red"), "outcomes[0].colour: is not a field"),
    (lambda d: (d["outcomes"][0].update(key="x" * 33), d["stages"][0].update(outcomes=["x" * 33])),
     "outcomes[0].key: must be at most 32 characters"),
])
def test_schema_errors_name_the_field(app: Flask, runner: Any, tmp_path: Path, edit: Any,
                                      message: str) -> None:
    from lti_tool.policy.models import PolicyVersion

    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(PolicyVersion))
    result = runner.invoke(args=["policy", "import", _write(tmp_path, "bad.json",
                                                            _edited(edit))])
    assert result.exit_code != 0 and message in result.output, result.output
    with app.app_context():
        assert db.session.scalar(
            sa.select(sa.func.count()).select_from(PolicyVersion)) == before
    with pytest.raises(policies.PolicyError, match=re.escape(message)):
        policies.validate_content(_edited(edit))


def test_every_missing_field_is_named() -> None:
    with pytest.raises(policies.PolicyError) as caught:
        policies.validate_content({"reference": "X", "version": "1"})
    for name in ("title", "stages", "outcomes", "awarding_bodies", "contact"):
        assert f"{name}: required field is missing" in str(caught.value)


def test_the_schema_is_valid_and_describes_every_field() -> None:
    from jsonschema import Draft202012Validator

    from lti_tool.policy import validation

    schema = validation.schema()
    Draft202012Validator.check_schema(schema)
    for name in schema["required"]:
        assert schema["properties"][name].get("description"), name


def test_bundled_rules_are_todays_behaviour(app: Flask) -> None:
    with app.app_context():
        rules = policies.current_or_bundled().rules
    assert [s.number for s in rules.stages] == [1, 2, 3] and rules.last_stage == 3
    assert [o.key for o in rules.stage(1).outcomes] == ["marked_and_advised"]
    assert not rules.stage(1).choice and not rules.stage(1).outcomes[0].needs_follow_up
    assert [o.key for o in rules.stage(2).outcomes] == ["professional_discussion",
                                                        "new_assignment"]
    assert rules.stage(2).outcome("new_assignment") is not None
    assert rules.stage(2).outcome("report_to_awarding_body") is None
    third = rules.stage(3)
    assert third.removal_flag and third.disciplinary_flag and third.outcomes[0].report
    assert [r.key for r in third.outcomes[0].follow_up] == ["reported"]
    assert rules.stage_for(4).number == 3  # the 4th upheld incident: Stage 3 again
    assert rules.counting.scope == "platform" and rules.counting.counts == "upheld"
    assert not rules.counting.poor_academic_practice_counts
    assert rules.awarding_body_choices == [("CIPD", "CIPD"), ("CMI", "CMI")]
    cipd = rules.awarding_body("CIPD")
    assert cipd is not None and not cipd.reports_on_suspicion and cipd.reports_at(3)
    assert not cipd.reports_at(2)
    assert rules.case_process.response_window_days == 14
    assert rules.retention.upheld_years == 6 and rules.retention.not_upheld_years == 1
    assert rules.contact("als") is not None


def test_content_imported_before_rules_follows_aiu_1_0(app: Flask) -> None:
    data = _bundled()
    for name in policies.RULE_SECTIONS:
        data.pop(name, None)
    for stage in data["stages"]:
        for name in ("outcomes", "removal_flag", "disciplinary_flag"):
            stage.pop(name, None)
    legacy = policies.Policy(0, "AIU", "1.0", data["title"], data)
    assert legacy.rules == policies.Policy(0, "AIU", "1.0", data["title"], _bundled()).rules


def test_bundled_policy_sets_clock_targets(app: Flask) -> None:
    with app.app_context():
        policy = policies.current_or_bundled()
        assert policy.clock_targets == {"learner_notified": 1, "answer_due": 10,
                                        "decision": 10, "report": 2, "appeal_decided": 10}
        rules = policy.rules
        assert rules.reported("CIPD", 3) and not rules.reported("CIPD", 2)
        assert rules.reported(None, rules.last_stage) and rules.first_reported_stage == 3
        # A stored version from before the targets existed reads the defaults.
        data = json.loads(json.dumps(policy.data))
        data["case_process"].pop("step_targets_days")
        older = policies.Policy(policy.id, "AIU", "0.9", "t", data)
        assert older.clock_targets == policy.clock_targets


@pytest.mark.parametrize("targets,message", [
    ("ten", "case_process.step_targets_days: must be an object"),
    ({"decision": 0}, "case_process.step_targets_days.decision"),
    ({"decision": 400}, "case_process.step_targets_days.decision"),
    ({"decision": "10"}, "case_process.step_targets_days.decision: must be a whole number"),
    ({"lunch": 1}, "case_process.step_targets_days.lunch: is not a field"),
])
def test_bad_clock_targets_are_refused(app: Flask, runner: Any, tmp_path: Path, targets: Any,
                                       message: str) -> None:
    data = _edited(lambda d: d["case_process"].update(step_targets_days=targets))
    result = runner.invoke(args=["policy", "import", _write(tmp_path, "bad.json", data)])
    assert result.exit_code != 0 and message in result.output, result.output
