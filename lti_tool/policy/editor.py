"""The policy editor's forms, built from the format itself (``policy.schema.json``): every
field of a section becomes an input named by its path (``stages[2].text``), so an error the
schema reports names the input to correct. Lists of texts are one item per line; lists of
groups (stages, permitted uses, awarding bodies ...) are repeated fieldsets with a blank
one to add and a box to remove each.

Also the comparison of a draft with the published version (by field, grouped in sections).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from lti_tool.policy.validation import field_path, schema

# The editor's pages: each edits these top-level fields.
SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "document": ("Document control", ("title", "version", "distribution", "issue_date",
                                      "review_date", "owner")),
    "statement": ("Policy statement and scope", (
        "organisation", "policy_statement", "statement", "purpose_intro", "purpose", "scope",
        "what_is_ai", "principles")),
    "uses": ("Permitted and prohibited uses", (
        "permitted_intro", "timing_rule", "permitted_uses", "prohibited_rule",
        "prohibited_uses", "data_protection")),
    "integrity": ("Assessment integrity", (
        "authenticity", "marker_responsibilities_intro", "marker_responsibilities",
        "authenticity_checks", "detection")),
    "stages": ("Misuse and stages", ("misuse", "detection_process", "stages")),
    "outcomes": ("Outcomes a decider may choose", ("outcomes",)),
    "bodies": ("Awarding bodies", ("awarding_bodies",)),
    "process": ("Counting, time limits and retention", ("counting", "case_process",
                                                        "retention")),
    "contacts": ("Contacts", ("contact", "contacts")),
    "declaration": ("What learners confirm", ("declaration_statements",)),
    "comprehension": ("Comprehension questions", ("comprehension",)),
}
# Fields whose change a learner reads (on the card, the full policy, the declaration or
# the comprehension check); the rest concern staff and the case process.
STAFF_ONLY = {"version", "distribution", "owner", "issue_date", "review_date",
              "authenticity_checks", "outcomes", "awarding_bodies", "counting",
              "case_process", "retention", "contacts"}
LONG_TEXT = 90  # texts longer than this (or any paragraph field) get a text area


@dataclass
class Node:
    """One input (or group of inputs) of the form."""

    path: str
    label: str
    kind: str  # text, textarea, lines, pairs, integer, boolean, choice, group, list, fixed
    description: str = ""
    value: Any = None
    choices: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    items: list[Node] = field(default_factory=list)  # kind "list": one group per item
    required: bool = False

    @property
    def id(self) -> str:
        return input_id(self.path)


def input_id(path: str) -> str:
    """The HTML id of the input for ``path`` (``stages[2].text``: ``f-stages-2--text``)."""
    return "f-" + "".join(c if c.isalnum() else "-" for c in path)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` (``#/$defs/...``) merged in."""
    ref = node.get("$ref")
    if not ref:
        return node
    target = schema()["$defs"][ref.rsplit("/", 1)[1]]
    return {**_resolve(target), **{k: v for k, v in node.items() if k != "$ref"}}


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _kind(spec: dict[str, Any], value: Any) -> str:
    if "enum" in spec or "const" in spec:
        return "choice"
    kind = spec.get("type")
    if kind == "object":
        return "pairs" if "properties" not in spec else "group"
    if kind == "array":
        return "list" if _resolve(spec.get("items", {})).get("type") == "object" else "lines"
    if kind == "integer":
        return "integer"
    if kind == "boolean":
        return "boolean"
    return "textarea" if isinstance(value, str) and len(value) > LONG_TEXT else "text"


def build(name: str, spec: dict[str, Any], value: Any, path: str,
          required: bool = False) -> Node:
    """The form node for ``value`` at ``path`` as ``spec`` describes it."""
    spec = _resolve(spec)
    kind = _kind(spec, value)
    node = Node(path, _label(name), kind, spec.get("description", ""), value,
                required=required)
    if kind == "choice":
        node.choices = [str(c) for c in spec.get("enum", [spec.get("const")])]
    elif kind == "group":
        value = value if isinstance(value, dict) else {}
        needed = set(spec.get("required", []))
        node.children = [build(key, sub, value.get(key), f"{path}.{key}", key in needed)
                         for key, sub in spec["properties"].items()]
    elif kind == "list":
        items = value if isinstance(value, list) else []
        item_spec = _resolve(spec["items"])
        # Every item, then a blank one to add.
        node.items = [build(f"{name} {i + 1}", item_spec, item, f"{path}[{i}]")
                      for i, item in enumerate([*items, {}])]
    return node


def form_nodes(section: str, data: dict[str, Any]) -> list[Node]:
    root = schema()
    needed = set(root["required"])
    nodes = []
    for name in SECTIONS[section][1]:
        if name == "version":
            nodes.append(Node(name, "Version", "text", root["properties"][name]["description"],
                              data.get(name), required=True))
            continue
        nodes.append(build(name, root["properties"][name], data.get(name), name,
                           name in needed))
    return nodes


_MISSING = object()


def _read(spec: dict[str, Any], form: MultiDict[str, str], path: str, base: Any) -> Any:
    """The value at ``path`` from the posted form (``_MISSING`` when left empty). A box left
    unticked is kept as false only where the version had it; a number that does not parse
    stays text, for the schema to name."""
    spec = _resolve(spec)
    kind = _kind(spec, None)
    if kind == "group":
        base = base if isinstance(base, dict) else {}
        out: dict[str, Any] = {}
        for key, sub in spec["properties"].items():
            got = _read(sub, form, f"{path}.{key}", base.get(key))
            if got is not _MISSING:
                out[key] = got
        return out if out else _MISSING
    if kind == "list":
        had = isinstance(base, list)
        base = base if had else []
        try:
            count = int(form.get(f"{path}.count", "0"))
        except ValueError:
            count = 0
        items = []
        for i in range(min(count, 200)):
            if form.get(f"{path}[{i}].remove"):
                continue
            got = _read(spec["items"], form, f"{path}[{i}]", base[i] if i < len(base) else None)
            if got is not _MISSING:
                items.append(got)
        # Emptied, a list stays (for the schema to judge); one never there stays absent.
        return items if items or had else _MISSING
    if kind == "lines":
        raw = form.get(path)
        if raw is None:
            return _MISSING
        lines = [" ".join(line.split()) for line in raw.splitlines()]
        found = [line for line in lines if line]
        return found if found or base is not None else _MISSING
    if kind == "pairs":
        raw = form.get(path)
        if raw is None or not raw.strip():
            return _MISSING
        pairs: dict[str, Any] = {}
        for line in raw.splitlines():
            key, _, number = line.partition(":")
            if key.strip():
                pairs[key.strip()] = _number(number.strip())
        return pairs
    if kind == "boolean":
        ticked = bool(form.get(path))
        return ticked if ticked or base is not None else _MISSING
    raw = form.get(path)
    if raw is None or not raw.strip():
        return _MISSING
    text = raw.strip() if kind != "textarea" else " ".join(raw.split())
    return _number(text) if kind == "integer" else text


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


def read_section(section: str, form: MultiDict[str, str],
                 draft: dict[str, Any]) -> dict[str, Any]:
    """The draft with the section's fields replaced by what was posted."""
    root = schema()
    out = dict(draft)
    for name in SECTIONS[section][1]:
        spec = root["properties"][name]
        got = _read(spec, form, name, draft.get(name))
        if got is _MISSING:
            out.pop(name, None)
        else:
            out[name] = got
    return out


# --- the comparison ---------------------------------------------------------------------

def flatten(value: Any, path: list[str | int] | None = None) -> dict[str, str]:
    """Every leaf of a document by its path (``stages[1].text``: its text)."""
    path = path or []
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, sub in value.items():
            out.update(flatten(sub, [*path, key]))
        return out
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        out = {}
        for i, sub in enumerate(value):
            out.update(flatten(sub, [*path, i]))
        return out
    if isinstance(value, list):
        return {field_path(path): "\n".join(str(v) for v in value)}
    return {field_path(path): value if isinstance(value, str) else json.dumps(value)}


@dataclass(frozen=True)
class Change:
    path: str
    before: str | None  # None: added
    after: str | None  # None: removed


@dataclass(frozen=True)
class SectionChange:
    key: str
    title: str
    changes: list[Change]
    learner_facing: bool


def section_of(name: str) -> str:
    return next((key for key, (_, names) in SECTIONS.items() if name in names), "other")


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[SectionChange]:
    """What changed from ``before`` (the published version) to ``after``, by section, in
    the editor's order; ``learner_facing`` when a learner reads any of it."""
    old, new = flatten(before), flatten(after)
    by_section: dict[str, list[Change]] = {}
    facing: dict[str, bool] = {}
    for path in sorted(set(old) | set(new), key=lambda p: (list(SECTIONS).index(
            section_of(_top(p))) if section_of(_top(p)) in SECTIONS else 99, p)):
        if old.get(path) == new.get(path):
            continue
        top = _top(path)
        key = section_of(top)
        by_section.setdefault(key, []).append(Change(path, old.get(path), new.get(path)))
        if top not in STAFF_ONLY and not _stage_rule(path):
            facing[key] = True
    return [SectionChange(key, SECTIONS[key][0] if key in SECTIONS else "Other fields",
                          changes, facing.get(key, False))
            for key, changes in by_section.items()]


def _top(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def _stage_rule(path: str) -> bool:
    """A stage's rules (its outcomes and flags) are for staff; its text is the learner's."""
    return path.startswith("stages[") and not path.endswith(".text")


def learner_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The sections a learner reads that differ between two versions (by title)."""
    return [c.title for c in compare(before, after) if c.learner_facing]
