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


# When poor academic practice (an educational outcome, counting towards no stage) may be
# found: for a learner's first case (the default), for any case, or never.
POOR_PRACTICE_WHEN = ("first_case", "any_case", "never")


class PolicyError(ValueError):
    """The policy file or the requested change is not acceptable; the message says why."""


@dataclass(frozen=True)
class CaseProcess:
    """The policy data that shapes a case (``case_process``; defaults where a version has
    none): the learner's response window in working days, the appeal window in days, when
    poor academic practice may be found, and each awarding body's appeals procedure (by
    qualification name, with ``default``)."""

    response_working_days: int = 10
    appeal_days: int = 14
    poor_academic_practice: str = "first_case"
    awarding_body_appeals: tuple[tuple[str, str], ...] = ()

    def next_route(self, awarding_body: str | None) -> str:
        """The awarding body's appeals procedure, in the policy's words."""
        routes = dict(self.awarding_body_appeals)
        return routes.get(awarding_body or "", routes.get(
            "default", "If you are not satisfied once our own appeals procedure is complete, "
            "you can take your case to your awarding body under its appeals procedure."))


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
    def case_process(self) -> CaseProcess:
        raw = self.data.get("case_process") or {}
        defaults = CaseProcess()
        return CaseProcess(
            response_working_days=int(raw.get("response_working_days",
                                              defaults.response_working_days)),
            appeal_days=int(raw.get("appeal_days", defaults.appeal_days)),
            poor_academic_practice=str(raw.get("poor_academic_practice",
                                               defaults.poor_academic_practice)),
            awarding_body_appeals=tuple(sorted(
                (str(k), str(v)) for k, v in (raw.get("awarding_body_appeals") or {}).items())))


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
    _validate_case_process(data.get("case_process"))
    return data


def _validate_case_process(process: Any) -> None:
    """The optional settings that shape a case (see :class:`CaseProcess`)."""
    if process is None:
        return
    if not isinstance(process, dict):
        raise PolicyError("case_process must be an object")
    for key, low, high in (("response_working_days", 1, 60), ("appeal_days", 1, 90)):
        value = process.get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise PolicyError(f"case_process.{key} must be a whole number from {low} to "
                              f"{high}")
    if process.get("poor_academic_practice", "first_case") not in POOR_PRACTICE_WHEN:
        raise PolicyError("case_process.poor_academic_practice must be one of: "
                          + ", ".join(POOR_PRACTICE_WHEN))
    routes = process.get("awarding_body_appeals", {})
    if not isinstance(routes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip()
            for k, v in routes.items()):
        raise PolicyError("case_process.awarding_body_appeals must map awarding bodies to "
                          "the text of their appeals procedure")


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
