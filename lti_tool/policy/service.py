"""Importing, publishing and reading policy versions."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lti_tool.audit import service as audit
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.policy.models import DRAFT, PUBLISHED, RETIRED, PolicyVersion

REQUIRED_TEXT = ("reference", "version", "title", "issue_date", "review_date", "timing_rule",
                 "prohibited_rule", "data_protection", "misuse", "detection_process",
                 "contact")
BUNDLED = Path(__file__).resolve().parents[2] / "config" / "policy" / "aiu-1.0.json"

# The steps of a case that have a target time (``clock_targets`` in the policy data, in
# working days, Monday to Friday): from raising to the learner being told, from being told
# to their answer, from the answer (or its deadline) to the decision, from reaching the
# reportable stage to the report to the awarding body, and from an appeal to its decision.
CLOCK_STEPS = ("learner_notified", "answer_due", "decision", "report_to_awarding_body",
               "appeal_decided")
# Used for a stored version whose data predates ``clock_targets`` (versions never change).
DEFAULT_CLOCK_TARGETS = {"learner_notified": 1, "answer_due": 10, "decision": 10,
                         "report_to_awarding_body": 2, "appeal_decided": 10}
DEFAULT_REPORTABLE_STAGE = 3


class PolicyError(ValueError):
    """The policy file or the requested change is not acceptable; the message says why."""


@dataclass(frozen=True)
class PermittedUse:
    key: str
    text: str
    plain: str


@dataclass(frozen=True)
class Policy:
    """A policy version's content, typed."""

    id: int
    reference: str
    version: str
    title: str
    data: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.reference} v{self.version}"

    @property
    def permitted_uses(self) -> list[PermittedUse]:
        return [PermittedUse(u["key"], u["text"], u.get("plain") or u["text"])
                for u in self.data["permitted_uses"]]

    def permitted(self, keys: list[str] | None) -> list[PermittedUse]:
        """The permitted uses among ``keys`` (all of them when ``keys`` is None)."""
        uses = self.permitted_uses
        return uses if keys is None else [u for u in uses if u.key in keys]

    def __getitem__(self, name: str) -> Any:
        return self.data[name]

    @property
    def clock_targets(self) -> dict[str, int]:
        """Working days allowed for each of :data:`CLOCK_STEPS`."""
        given = self.data.get("clock_targets") or {}
        return {step: int(given.get(step, DEFAULT_CLOCK_TARGETS[step])) for step in CLOCK_STEPS}

    @property
    def reportable_stage(self) -> int:
        """The stage at which a case must be reported to the awarding body."""
        return int(self.data.get("reportable_stage") or DEFAULT_REPORTABLE_STAGE)


def validate_content(data: Any) -> dict[str, Any]:
    """Check that a policy document has everything the screens and declarations rely on."""
    if not isinstance(data, dict):
        raise PolicyError("the policy file must hold a JSON object")
    missing = [k for k in REQUIRED_TEXT if not isinstance(data.get(k), str) or not data[k]]
    if missing:
        raise PolicyError("the policy file is missing: " + ", ".join(missing))
    uses = data.get("permitted_uses")
    if not isinstance(uses, list) or not uses or not all(
            isinstance(u, dict) and u.get("key") and u.get("text") for u in uses):
        raise PolicyError("permitted_uses must list objects with 'key' and 'text'")
    if len({u["key"] for u in uses}) != len(uses):
        raise PolicyError("permitted_uses keys must be unique")
    prohibited = data.get("prohibited_uses")
    if not isinstance(prohibited, list) or not prohibited:
        raise PolicyError("prohibited_uses must be a non-empty list")
    stages = data.get("stages")
    if not isinstance(stages, list) or [s.get("stage") for s in stages] != [1, 2, 3]:
        raise PolicyError("stages must list stages 1, 2 and 3 in order")
    _validate_comprehension(data.get("comprehension"))
    _validate_clocks(data.get("clock_targets"), data.get("reportable_stage"))
    return data


def _validate_clocks(targets: Any, reportable_stage: Any) -> None:
    """The optional clock targets: working days (a whole number from 1 to 365) for each of
    :data:`CLOCK_STEPS`, and the stage (1 to 3) that is reported to the awarding body."""
    if targets is not None:
        if not isinstance(targets, dict) or targets.get("unit", "working_days") != "working_days":
            raise PolicyError("clock_targets must be an object of working days "
                              "(\"unit\": \"working_days\")")
        unknown = sorted(set(targets) - {"unit", *CLOCK_STEPS})
        if unknown:
            raise PolicyError("clock_targets has unknown steps: " + ", ".join(unknown)
                              + " (known: " + ", ".join(CLOCK_STEPS) + ")")
        for step in CLOCK_STEPS:
            days = targets.get(step, DEFAULT_CLOCK_TARGETS[step])
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
                raise PolicyError(f"clock_targets.{step} must be a whole number of working "
                                  "days from 1 to 365")
    if reportable_stage is not None and (isinstance(reportable_stage, bool) or
                                         reportable_stage not in (1, 2, 3)):
        raise PolicyError("reportable_stage must be 1, 2 or 3")


def _validate_comprehension(questions: Any) -> None:
    """The optional comprehension questions: each with a unique key, the question, its
    choices, the right choice and the policy's words that explain it."""
    if questions is None:
        return
    if not isinstance(questions, list):
        raise PolicyError("comprehension must be a list of questions")
    keys: set[str] = set()
    for q in questions:
        choices = q.get("choices") if isinstance(q, dict) else None
        if not (isinstance(q, dict) and isinstance(q.get("key"), str) and q["key"]
                and isinstance(q.get("question"), str) and q["question"]
                and isinstance(choices, list) and len(choices) >= 2
                and all(isinstance(c, dict) and c.get("key") and c.get("text")
                        for c in choices)
                and q.get("answer") in {c["key"] for c in choices}
                and isinstance(q.get("because"), list) and q["because"]
                and all(isinstance(b, str) and b for b in q["because"])):
            raise PolicyError("each comprehension question needs a key, the question, two or "
                              "more choices, the right answer among them and the policy's "
                              "words that explain it ('because')")
        if q["key"] in keys:
            raise PolicyError("comprehension question keys must be unique")
        keys.add(q["key"])


def import_file(path: str | Path, actor: str) -> tuple[PolicyVersion, bool]:
    """Import a policy version from JSON. Re-importing identical content is a no-op;
    different content under an existing version number is refused (versions never change).
    Returns (version, whether it was new)."""
    try:
        raw = Path(path).read_text("utf-8")
        data = validate_content(json.loads(raw))
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    existing = db.session.scalar(sa.select(PolicyVersion).where(
        PolicyVersion.reference == data["reference"], PolicyVersion.version == data["version"]))
    if existing is not None:
        if existing.content_hash != digest:
            raise PolicyError(f"{data['reference']} v{data['version']} already exists with "
                              "different content; give the new text a new version number")
        return existing, False
    version = PolicyVersion(reference=data["reference"], version=data["version"],
                            title=data["title"], content=canonical, content_hash=digest,
                            status=DRAFT, imported_by=actor)
    db.session.add(version)
    db.session.flush()
    audit.record(actor, "policy.imported", "policy_version", version.id,
                 {"reference": version.reference, "version": version.version,
                  "sha256": digest})
    return version, True


def publish(version_label: str, actor: str, reference: str | None = None) -> PolicyVersion:
    """Make a version the one learners declare under; the previous one retires."""
    stmt = sa.select(PolicyVersion).where(PolicyVersion.version == version_label)
    if reference:
        stmt = stmt.where(PolicyVersion.reference == reference)
    found = list(db.session.scalars(stmt))
    if not found:
        raise PolicyError(f"no policy version {version_label} has been imported")
    if len(found) > 1:
        raise PolicyError(f"several policies have version {version_label}; name the reference")
    version = found[0]
    if version.status == PUBLISHED:
        return version
    for previous in db.session.scalars(sa.select(PolicyVersion).where(
            PolicyVersion.reference == version.reference,
            PolicyVersion.status == PUBLISHED)):
        previous.status = RETIRED
        audit.record(actor, "policy.retired", "policy_version", previous.id,
                     {"version": previous.version})
    version.status = PUBLISHED
    version.published_at = utcnow()
    version.published_by = actor
    db.session.flush()
    audit.record(actor, "policy.published", "policy_version", version.id,
                 {"reference": version.reference, "version": version.version})
    return version


_parsed: dict[int, Policy] = {}


def as_policy(version: PolicyVersion) -> Policy:
    """The typed content of a version (cached: a version's content never changes)."""
    cached = _parsed.get(version.id)
    if cached is None or cached.version != version.version:
        cached = Policy(version.id, version.reference, version.version, version.title,
                        json.loads(version.content))
        _parsed[version.id] = cached
    return cached


def current() -> Policy | None:
    """The published policy, or None before any is published."""
    version = db.session.scalar(sa.select(PolicyVersion).where(
        PolicyVersion.status == PUBLISHED).order_by(PolicyVersion.published_at.desc()))
    return as_policy(version) if version else None


def by_id(version_id: int) -> Policy | None:
    version = db.session.get(PolicyVersion, version_id)
    return as_policy(version) if version else None


def versions() -> list[PolicyVersion]:
    return list(db.session.scalars(sa.select(PolicyVersion).order_by(PolicyVersion.id)))


def current_or_bundled() -> Policy:
    """The published policy; on a fresh install, the bundled version 1.0 is imported and
    published first (once, audited as the system)."""
    found = current()
    if found is not None:
        return found
    from sqlalchemy.exc import IntegrityError

    try:
        with db.session.begin_nested():
            version, _ = import_file(BUNDLED, "system")
            publish(version.version, "system", version.reference)
    except IntegrityError:
        pass  # another request installed it at the same moment
    result = current()
    if result is None:
        raise PolicyError("no policy is published")
    return result
