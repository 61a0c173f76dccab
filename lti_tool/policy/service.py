"""Importing, publishing and reading policy versions."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app

from lti_tool.audit import service as audit
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.platforms.cache import row_cache
from lti_tool.platforms.models import Platform
from lti_tool.policy import rules as policy_rules
from lti_tool.policy import validation
from lti_tool.policy.models import DRAFT, PUBLISHED, RETIRED, PolicyVersion

BUNDLED = Path(__file__).resolve().parents[2] / "config" / "policy" / "aiu-1.0.json"

# The steps of a case that have a target time, in working days (Monday to Friday): from
# raising to the learner being told, from being told to their answer (the response window,
# ``case_process.response_working_days``), from the answer (or its deadline) to the
# decision, from the decision that reaches the awarding body's reporting stage to the
# report, and from an appeal to its decision. All but the answer come from
# ``case_process.step_targets_days``; these defaults fill a step a version does not name.
CLOCK_STEPS = ("learner_notified", "answer_due", "decision", "report", "appeal_decided")
DEFAULT_STEP_TARGETS = {"learner_notified": 1, "decision": 10, "report": 2,
                        "appeal_decided": 10}


# When poor academic practice (an educational outcome, counting towards no stage) may be
# found: for a learner's first case (the default), for any case, or never.
POOR_PRACTICE_WHEN = ("first_case", "any_case", "never")


class PolicyError(ValueError):
    """The policy file or the requested change is not acceptable; the message says why."""


class PolicyInvalid(PolicyError):
    """The document does not follow the format; ``problems`` name each field at fault
    (``"stages[2].text: required field is missing"``)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the policy file is not valid: " + validation.summary(problems))
        self.problems = problems


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

    @property
    def declaration_statements(self) -> dict[str, str] | None:
        """The words of the declaration's confirmations, when the policy sets them."""
        found = self.data.get("declaration_statements")
        return dict(found) if found else None

    @cached_property
    def rules(self) -> policy_rules.Rules:
        """The stages, outcomes, counting, awarding bodies, time limits, retention and
        contacts (a version imported before policies carried rules follows AIU v1.0's)."""
        return policy_rules.parse(with_rules(self.data))

    def __getitem__(self, name: str) -> Any:
        return self.data[name]

    @property
    def case_process(self) -> policy_rules.CaseProcess:
        return self.rules.case_process

    @property
    def clock_targets(self) -> dict[str, int]:
        """Working days allowed for each of :data:`CLOCK_STEPS`."""
        given = {**DEFAULT_STEP_TARGETS, **self.rules.case_process.step_targets_days}
        return {step: self.case_process.response_working_days if step == "answer_due"
                else int(given[step]) for step in CLOCK_STEPS}


RULE_SECTIONS = ("outcomes", "counting", "awarding_bodies", "case_process", "retention",
                 "contacts")


def with_rules(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` itself when it carries its rules; for content imported before the format had
    rules, the same texts with the rules of the bundled AIU v1.0 (what the code applied to
    every policy then)."""
    if "outcomes" in data:
        return data
    bundled = json.loads(BUNDLED.read_text("utf-8"))
    merged = {**data, **{k: bundled[k] for k in RULE_SECTIONS if k in bundled}}
    rules_of = {s["stage"]: s for s in bundled["stages"]}
    merged["stages"] = [{**rules_of.get(s["stage"], bundled["stages"][-1]), **s}
                        for s in data["stages"]]
    return merged


def validate_content(data: Any) -> dict[str, Any]:
    """Check a policy document against the format (``policy.schema.json``) and its rules;
    the error names every field at fault (``stages[2].text: required field is missing``)."""
    if not isinstance(data, dict):
        raise PolicyError("the policy file must hold a JSON object")
    found = validation.problems(data)
    if found:
        raise PolicyInvalid(found)
    return data


def _canonical(data: dict[str, Any]) -> tuple[str, str]:
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False)
    return canonical, hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _version_taken(reference: str, version: str, but: int | None = None) -> bool:
    stmt = sa.select(PolicyVersion.id).where(PolicyVersion.reference == reference,
                                             PolicyVersion.version == version)
    if but is not None:
        stmt = stmt.where(PolicyVersion.id != but)
    return db.session.scalar(stmt.limit(1)) is not None


def start_draft(source: PolicyVersion, version: str, actor: str) -> PolicyVersion:
    """A new draft version of ``source``'s policy, starting from its content."""
    version = version.strip()
    data = json.loads(source.content)
    data["version"] = version
    validate_content(data)
    if _version_taken(source.reference, version):
        raise PolicyInvalid([f"version: {source.reference} v{version} already exists; "
                             "choose another number"])
    canonical, digest = _canonical(data)
    draft = PolicyVersion(reference=source.reference, version=version, title=data["title"],
                          content=canonical, content_hash=digest, status=DRAFT,
                          imported_by=actor)
    db.session.add(draft)
    db.session.flush()
    audit.record(actor, "policy.draft_started", "policy_version", draft.id,
                 {"reference": draft.reference, "version": version, "from": source.id,
                  "sha256": digest})
    return draft


def save_draft(draft: PolicyVersion, data: dict[str, Any], actor: str) -> bool:
    """Replace a draft's content (validated; the reference cannot change). Published and
    retired versions never change. Returns whether anything changed."""
    if draft.status != DRAFT:
        raise PolicyError(f"{draft.label} is {draft.status}: a published version never "
                          "changes; start a new draft")
    if data.get("reference") != draft.reference:
        raise PolicyInvalid([f"reference: must stay {draft.reference} (a new reference is "
                             "a new policy: import it)"])
    validate_content(data)
    if _version_taken(draft.reference, data["version"], but=draft.id):
        raise PolicyInvalid([f"version: {draft.reference} v{data['version']} already "
                             "exists; choose another number"])
    canonical, digest = _canonical(data)
    if digest == draft.content_hash:
        return False
    draft.content, draft.content_hash = canonical, digest
    draft.version, draft.title = data["version"], data["title"]
    db.session.flush()
    audit.record(actor, "policy.draft_saved", "policy_version", draft.id,
                 {"reference": draft.reference, "version": draft.version, "sha256": digest})
    return True


def get_version(version_id: int) -> PolicyVersion | None:
    return db.session.get(PolicyVersion, version_id)


def published_version(reference: str) -> PolicyVersion | None:
    return _published(reference)


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
    canonical, digest = _canonical(data)
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
    return publish_version(found[0], actor)


def publish_version(version: PolicyVersion, actor: str,
                    changed: list[str] | None = None) -> PolicyVersion:
    """Publish ``version`` (the policy's published one retires); ``changed`` (the sections
    that changed from it, as the editor showed them) goes into the audit trail."""
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
    details: dict[str, Any] = {"reference": version.reference, "version": version.version}
    if changed is not None:
        details["changed_sections"] = changed
    audit.record(actor, "policy.published", "policy_version", version.id, details)
    return version


_parsed: dict[int, tuple[str, Policy]] = {}


def as_policy(version: PolicyVersion) -> Policy:
    """The typed content of a version (cached by content: a published version's content
    never changes, a draft's changes with its hash)."""
    cached = _parsed.get(version.id)
    if cached is None or cached[0] != version.content_hash:
        cached = (version.content_hash,
                  Policy(version.id, version.reference, version.version, version.title,
                         json.loads(version.content)))
        _parsed[version.id] = cached
    return cached[1]


def _published(reference: str | None = None) -> PolicyVersion | None:
    stmt = sa.select(PolicyVersion).where(PolicyVersion.status == PUBLISHED)
    if reference is not None:
        stmt = stmt.where(PolicyVersion.reference == reference)
    return db.session.scalar(stmt.order_by(PolicyVersion.published_at.desc(),
                                           PolicyVersion.id.desc()).limit(1))


def published(reference: str) -> Policy | None:
    """The published version of the policy ``reference``, if it has one."""
    version = _published(reference)
    return as_policy(version) if version else None


def current() -> Policy | None:
    """The tool's default policy: the published version of ``POLICY_DEFAULT_REFERENCE``, or
    when it has none the most recently published policy; None before any is published."""
    version = _published(current_app.config.get("POLICY_DEFAULT_REFERENCE") or None)
    if version is None:
        version = _published()
    return as_policy(version) if version else None


def published_policies() -> list[Policy]:
    """Every policy with a published version (one per reference), by reference."""
    found = db.session.scalars(sa.select(PolicyVersion).where(
        PolicyVersion.status == PUBLISHED).order_by(PolicyVersion.reference,
                                                    PolicyVersion.published_at.desc()))
    by_reference: dict[str, Policy] = {}
    for version in found:
        by_reference.setdefault(version.reference, as_policy(version))
    return list(by_reference.values())


def for_placement(reference: str | None, platform_id: int) -> Policy:
    """The policy a placement follows: the one its settings name (``reference``), else its
    platform's, else the tool's default; always a published version (a named policy with
    none published falls through to the next)."""
    if reference:
        found = published(reference)
        if found is not None:
            return found
    # Only when the settings name none; the platform row comes from the process's cache.
    platform = row_cache().get(("platform-id", platform_id), Platform,
                               lambda: db.session.get(Platform, platform_id))
    site = platform.policy_reference if platform is not None else None
    if site:
        found = published(site)
        if found is not None:
            return found
    return current_or_bundled()


def use_for_platform(platform_id: int, reference: str | None, actor: str) -> None:
    """Make ``reference`` (published) the policy of a platform's placements that name none;
    None returns them to the tool's default."""
    platform = db.session.get(Platform, platform_id)
    if platform is None:
        raise PolicyError("no such platform")
    if reference is not None and published(reference) is None:
        raise PolicyError(f"policy {reference} has no published version")
    platform.policy_reference = reference
    db.session.flush()
    audit.record(actor, "platform.policy_chosen", "platform", platform.id,
                 {"policy_reference": reference})


def by_id(version_id: int) -> Policy | None:
    version = db.session.get(PolicyVersion, version_id)
    return as_policy(version) if version else None


def versions() -> list[PolicyVersion]:
    return list(db.session.scalars(sa.select(PolicyVersion).order_by(PolicyVersion.id)))


_bundled_rules: list[policy_rules.Rules] = []


def bundled_rules() -> policy_rules.Rules:
    """The rules of the bundled AIU v1.0 (what events recorded before labels were kept in
    them were decided under)."""
    if not _bundled_rules:
        _bundled_rules.append(policy_rules.parse(json.loads(BUNDLED.read_text("utf-8"))))
    return _bundled_rules[0]


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
