"""The policy as versioned data: the bundled 1.0 is faithful and imports cleanly; versions
never change once imported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
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


def test_bundled_policy_sets_clock_targets(app: Flask) -> None:
    with app.app_context():
        policy = policies.current_or_bundled()
        assert policy.clock_targets == {"learner_notified": 1, "answer_due": 10,
                                        "decision": 10, "report_to_awarding_body": 2,
                                        "appeal_decided": 10}
        assert policy.reportable_stage == 3
        # A stored version from before the targets existed reads the defaults.
        older = policies.Policy(policy.id, "AIU", "0.9", "t", {
            k: v for k, v in policy.data.items() if k not in ("clock_targets",
                                                              "reportable_stage")})
        assert older.clock_targets == policy.clock_targets and older.reportable_stage == 3


@pytest.mark.parametrize("targets,stage,message", [
    ("ten", None, "clock_targets must be an object"),
    ({"unit": "hours", "decision": 10}, None, "working days"),
    ({"decision": 0}, None, "clock_targets.decision"),
    ({"decision": "10"}, None, "clock_targets.decision"),
    ({"answer_due": True}, None, "clock_targets.answer_due"),
    ({"lunch": 1}, None, "unknown steps: lunch"),
    (None, 4, "reportable_stage"),
])
def test_bad_clock_targets_are_refused(app: Flask, runner: Any, tmp_path: Path, targets: Any,
                                       stage: Any, message: str) -> None:
    data = json.loads(policies.BUNDLED.read_text("utf-8"))
    data["version"] = "9.1"
    data.pop("clock_targets")
    if targets is not None:
        data["clock_targets"] = targets
    if stage is not None:
        data["reportable_stage"] = stage
    result = runner.invoke(args=["policy", "import", _write(tmp_path, "bad.json", data)])
    assert result.exit_code != 0 and message in result.output, result.output
