"""Checking a policy document against ``policy.schema.json`` and the rules a schema cannot
say (keys unique, stages numbered 1, 2, ..., references that resolve). Every problem is
named by its field, as a person editing the file would look for it: ``stages[2].text``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(__file__).with_name("policy.schema.json")
MAX_REPORTED = 25

_TYPES = {"string": "text", "array": "a list", "object": "an object (a group of fields)",
          "integer": "a whole number", "boolean": "true or false", "number": "a number"}


@cache
def schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text("utf-8")))


@cache
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(schema())
    return Draft202012Validator(schema())


def field_path(parts: Iterable[str | int]) -> str:
    """``["stages", 2, "text"]`` as ``stages[2].text``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the whole file)"


def _messages(error: ValidationError) -> list[tuple[str, str]]:
    if error.validator == "required":
        missing = [p for p in error.validator_value
                   if isinstance(error.instance, dict) and p not in error.instance]
        return [(field_path([*error.absolute_path, name]), "required field is missing")
                for name in missing]
    return [_message(error)]


def _message(error: ValidationError) -> tuple[str, str]:
    path = list(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return field_path([*path, extra[0] if extra else "?"]), "is not a field of the format"
    if kind == "type":
        return field_path(path), f"must be {_TYPES.get(str(error.validator_value), 'valid')}"
    if kind == "minLength" or (kind == "pattern" and error.validator_value == "\\S"):
        return field_path(path), "must not be empty"
    if kind == "minItems":
        n = error.validator_value
        return field_path(path), f"must list at least {n} item{'s' if n != 1 else ''}"
    if kind == "enum":
        return field_path(path), "must be one of " + ", ".join(
            json.dumps(v) for v in error.validator_value)
    if kind == "const":
        return field_path(path), f"must be {json.dumps(error.validator_value)}"
    if kind == "minimum":
        return field_path(path), f"must be at least {error.validator_value}"
    if kind == "maxLength":
        return field_path(path), f"must be at most {error.validator_value} characters"
    if kind == "pattern":
        if error.validator_value.startswith("^[0-9]{4}"):
            return field_path(path), "must be a date written YYYY-MM-DD"
        return field_path(path), ("may hold only letters, digits, '-' and '_'"
                                  if "_-]+$" in error.validator_value
                                  else "may hold only letters, digits, '.', '-' and '_'")
    return field_path(path), error.message


def _schema_problems(data: Any) -> list[str]:
    errors = sorted(_validator().iter_errors(data),
                    key=lambda e: [str(p) for p in e.absolute_path])
    seen: list[str] = []
    for error in errors:
        for where, what in _messages(error):
            line = f"{where}: {what}"
            if line not in seen:
                seen.append(line)
    return seen


def _duplicates(items: list[dict[str, Any]], name: str) -> Iterator[str]:
    keys: set[str] = set()
    for i, item in enumerate(items):
        if item["key"] in keys:
            yield f"{name}[{i}].key: {item['key']!r} is used twice (keys must be unique)"
        keys.add(item["key"])


def _rule_problems(data: dict[str, Any]) -> Iterator[str]:
    """What the schema cannot check: unique keys, stage numbers, references."""
    for name in ("permitted_uses", "prohibited_uses", "outcomes", "awarding_bodies",
                 "contacts", "comprehension"):
        yield from _duplicates(data.get(name) or [], name)
    outcomes = {o["key"] for o in data["outcomes"]}
    for i, stage in enumerate(data["stages"]):
        if stage["stage"] != i + 1:
            yield f"stages[{i}].stage: must be {i + 1} (stages are numbered 1, 2, ... in order)"
        for j, key in enumerate(stage["outcomes"]):
            if key not in outcomes:
                yield (f"stages[{i}].outcomes[{j}]: {key!r} is not one of the outcomes "
                       "(outcomes[].key)")
    for i, outcome in enumerate(data["outcomes"]):
        results = (outcome.get("follow_up") or {}).get("results", [])
        yield from _duplicates(results, f"outcomes[{i}].follow_up.results")
    last = len(data["stages"])
    for i, body in enumerate(data["awarding_bodies"]):
        stage = body["reporting"].get("stage")
        if stage is not None and stage > last:
            yield f"awarding_bodies[{i}].reporting.stage: there is no stage {stage}"
    for i, question in enumerate(data.get("comprehension") or []):
        yield from _duplicates(question["choices"], f"comprehension[{i}].choices")
        if question["answer"] not in {c["key"] for c in question["choices"]}:
            yield (f"comprehension[{i}].answer: {question['answer']!r} is not one of its "
                   "choices")


def problems(data: Any) -> list[str]:
    """Every problem with a policy document, each naming its field; empty when it is valid."""
    found = _schema_problems(data)
    if not found:
        found = list(_rule_problems(data))
    return found


def summary(found: list[str]) -> str:
    shown = found[:MAX_REPORTED]
    more = len(found) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
