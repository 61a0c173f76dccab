"""The facts of each case for the report to the awarding body (:mod:`lti_tool.reports.m1`),
read from the case's append-only events, evidence, checks and answers, in words."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext, lazy_gettext

from lti_tool.cases.answers import answer_of
from lti_tool.cases.check_plans import record_parts
from lti_tool.cases.checks import CHECK_OUTCOMES, checks_of
from lti_tool.cases.evidence import evidence_of
from lti_tool.cases.ledger import outcome_label as policy_outcome_label
from lti_tool.cases.letters import assignment_name
from lti_tool.cases.models import (
    EV_DECIDED,
    EV_DECISION_WITHDRAWN,
    EV_FOLLOW_UP_RECORDED,
    EV_NOTE_ADDED,
    EVIDENCE_DETECTION,
    EVIDENCE_FILE,
    SOURCE_CHECKER,
    UPHELD,
    AuthenticityCheck,
    EvidenceFile,
    Incident,
)
from lti_tool.cases.records import TimelineEntry, describe, timeline
from lti_tool.cases.safeguards import FINDING_LABELS, sources
from lti_tool.cases.standing import case_policy
from lti_tool.declarations import authentication, awareness
from lti_tool.declarations.models import AWARENESS_KINDS
from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.policy.rules import Rules
from lti_tool.reports import filename_part
from lti_tool.requests.service import active_authorisations

EVIDENCE_KINDS = {EVIDENCE_DETECTION: lazy_gettext("AI-checking system's result (one piece of "
                                                   "evidence needing human judgement, not a "
                                                   "verdict)"),
                  EVIDENCE_FILE: lazy_gettext("File")}


@dataclass(frozen=True)
class Fact:
    """One line of the report: a labelled fact, with when and by whom where it applies."""

    label: str
    text: str
    when: datetime | None = None
    who: str = ""


@dataclass(frozen=True)
class EvidenceEntry:
    reference: str  # "E1", "E2"... within the case
    label: str
    kind: str  # in words
    detail: str
    added_by: str
    added_at: datetime
    evidence_id: int
    filename: str | None = None
    size: int | None = None
    sha256: str | None = None
    archive_path: str | None = None  # where the file is in the ZIP
    relied_on: bool | None = None  # None: the decision did not say


@dataclass
class CaseSection:
    """One case, in the M1 form's four parts."""

    incident: Incident
    title: str  # "Case 12: Unit 1 assignment (L5 People Practice)"
    course: str
    assignment: str
    outcome: str
    reportable: bool
    found: list[Fact] = field(default_factory=list)  # A
    evidence: list[EvidenceEntry] = field(default_factory=list)  # A
    made_aware: list[Fact] = field(default_factory=list)  # B
    declarations: list[Fact] = field(default_factory=list)  # C
    answers_checks: list[Fact] = field(default_factory=list)  # D
    decisions: list[Fact] = field(default_factory=list)  # D
    appeals: list[Fact] = field(default_factory=list)  # D
    steps: list[Fact] = field(default_factory=list)  # every step, for the record
    reported: list[Fact] = field(default_factory=list)  # reports already recorded


def file_bytes(evidence_id: int) -> bytes | None:
    row = db.session.get(EvidenceFile, evidence_id)
    return row.content if row else None


def outcome_label(incident: Incident) -> str:
    if incident.outcome == UPHELD:
        return gettext("Upheld, Stage %(stage)s", stage=incident.stage)
    if incident.outcome in FINDING_LABELS:
        return FINDING_LABELS[incident.outcome]
    return gettext("Not decided yet")


def case_sections(learner: Person, cases: list[Incident],
                  reportable: Incident | None) -> list[CaseSection]:
    return [_section(learner, incident, reportable is not None and incident.id == reportable.id)
            for incident in cases]


def _section(learner: Person, incident: Incident, reportable: bool) -> CaseSection:
    assignment = assignment_name(incident.placement)
    course = incident.course.display_name
    entries = timeline(incident)
    rules = case_policy(incident).rules
    section = CaseSection(
        incident=incident, title=gettext(
            "Case %(id)s: %(assignment)s (%(course)s), the case being reported", id=incident.id,
            assignment=assignment, course=course) if reportable else gettext(
            "Case %(id)s: %(assignment)s (%(course)s)", id=incident.id, assignment=assignment,
            course=course), course=course,
        assignment=assignment, outcome=outcome_label(incident), reportable=reportable)
    source = (gettext("Found by an AI-checking system authorised by IT, %(checker)s: "
                      "%(result)s (one piece of evidence needing human judgement, not a "
                      "verdict)", checker=incident.checker, result=incident.checker_result)
              if incident.source == SOURCE_CHECKER
              else gettext("Found by the marker's own observation of the work"))
    section.found = [
        Fact(gettext("How it was found"), source),
        Fact(gettext("When and by whom"),
             gettext("Raised by %(name)s", name=incident.raised_by.display_name),
             incident.raised_at, incident.raised_by.display_name),
        Fact(gettext("The marker's observations"), incident.observations),
        Fact(gettext("Outcome"), section.outcome),
    ]
    relied = _relied_on(incident, entries)
    for n, item in enumerate(evidence_of(incident), start=1):
        reference = f"E{n}"
        section.evidence.append(EvidenceEntry(
            reference=reference, label=item.label,
            kind=str(EVIDENCE_KINDS.get(item.kind, gettext("Written evidence"))),
            detail=item.text,
            added_by=item.added_by.display_name, added_at=item.added_at,
            evidence_id=item.id, filename=item.filename, size=item.size,
            sha256=item.sha256,
            archive_path=(f"case-{incident.id}/{reference}-{filename_part(item.filename, 80)}"
                          if item.kind == EVIDENCE_FILE and item.filename else None),
            relied_on=None if relied is None else item.id in relied))
    section.made_aware = made_aware(learner, incident)
    section.declarations = [*declaration_facts(learner, incident),
                            *authorisations_in_force(learner, incident)]
    section.answers_checks = [*_answers(incident), *_checks(incident, entries)]
    for entry in entries:
        who = entry.actor
        if entry.kind == EV_DECIDED:
            section.decisions.append(Fact(gettext("Decision"), _decision_text(entry.data, rules),
                                          entry.at, who))
        elif entry.kind == EV_DECISION_WITHDRAWN:
            section.decisions.append(Fact(gettext("Decision withdrawn"), gettext(
                "Reason: %(reason)s", reason=entry.data.get("reason", "")), entry.at, who))
        elif entry.kind == EV_FOLLOW_UP_RECORDED:
            section.decisions.append(Fact(gettext("Follow-up"), describe(entry, rules),
                                          entry.at, who))
            followed = rules.outcome(str(entry.data.get("action") or ""))
            if followed is not None and followed.report:
                section.reported.append(Fact(
                    gettext("Reported"), gettext(
                        "Reported to the awarding body on %(done_on)s, recorded by %(who)s: "
                        "%(notes)s", done_on=entry.data.get("done_on"), who=who,
                        notes=entry.data.get("notes", "")), entry.at, who))
        elif entry.kind == EV_NOTE_ADDED:
            section.answers_checks.append(Fact(
                gettext("Correction to step %(step)s", step=entry.data["corrects"])
                if entry.data.get("corrects") else gettext("Note"),
                str(entry.data.get("text", "")), entry.at, who))
        elif entry.kind.startswith("appeal"):
            section.appeals.append(Fact(gettext("Appeal"), describe(entry, rules), entry.at, who))
        section.steps.append(Fact(gettext("Step %(seq)s", seq=entry.seq), describe(entry, rules),
                                  entry.at, who))
    if not section.appeals:
        section.appeals.append(Fact(gettext("Appeal"), gettext("No appeal was made.")))
    return section


def _relied_on(incident: Incident, entries: list[TimelineEntry]) -> set[int] | None:
    """The evidence items the latest decision says it relied on (None when it did not say).
    The decision names what it relied on by the words the decider chose from
    (:func:`lti_tool.cases.safeguards.sources`)."""
    for entry in reversed(entries):
        if entry.kind == EV_DECIDED:
            named = entry.data.get("relied_on")
            if not isinstance(named, list):
                return None
            return {int(s.key.split(":")[1]) for s in sources(incident)
                    if s.key.startswith("evidence:") and s.label in named}
    return None


def _decision_text(data: dict[str, object], rules: Rules) -> str:
    if data.get("outcome") == UPHELD:
        key = str(data.get("action") or "")
        action = str(data.get("action_label") or "") or (
            policy_outcome_label(rules, key) if key else "")
        text = gettext("Upheld: Stage %(stage)s (%(action)s)", stage=data.get("stage"),
                       action=action) if action else gettext("Upheld: Stage %(stage)s",
                                                             stage=data.get("stage"))
    else:
        text = str(FINDING_LABELS.get(str(data.get("outcome") or ""), gettext("Decided")))
    if data.get("without_answer"):
        text += gettext(", decided without the learner's answer")
        if data.get("without_answer_reason"):
            text += " " + gettext("(why: %(reason)s)", reason=data["without_answer_reason"])
    text += ". " + gettext("Reasons: %(reasons)s", reasons=data.get("reasons", ""))
    if data.get("account_reasons"):
        text += " " + gettext("The learner's account: %(account)s",
                              account=data["account_reasons"])
    relied = data.get("relied_on")
    if isinstance(relied, list) and relied:
        text += " " + gettext("Relied on: %(sources)s.",
                              sources="; ".join(str(r) for r in relied))
    return text


def _answers(incident: Incident) -> list[Fact]:
    reply = answer_of(incident)
    if reply is None:
        return [Fact(gettext("The learner's answer"), gettext("No answer was given."))]
    return [Fact(gettext("The learner's answer to \u201chow could this have occurred?\u201d"),
                 reply.text, reply.answered_at, incident.learner.display_name)]


def _checks(incident: Incident, entries: list[TimelineEntry]) -> list[Fact]:
    facts: list[Fact] = []
    for check in checks_of(incident):
        facts += check_facts(check, [e for e in entries if e.data.get("check_id") == check.id])
    if not facts:
        facts.append(Fact(gettext("Authenticity checks"), gettext("None were planned.")))
    return facts


def check_facts(check: AuthenticityCheck, entries: list[TimelineEntry]) -> list[Fact]:
    """A check in words: each change of plan (with its reason), the record and its notes
    (both parts, for a two-part record) and the learner's comments."""
    name = check.method.capitalize()
    facts = [Fact(name, describe(e), e.at, e.actor) for e in entries
             if e.kind != "check_recorded"]
    if check.done:
        outcome = CHECK_OUTCOMES.get(check.outcome or "", gettext("Not recorded"))
        facts.append(Fact(gettext("%(name)s: record", name=name), gettext(
            "Done on %(done_on)s by %(by)s. Outcome: %(outcome)s. Notes: %(notes)s",
            done_on=format(check.done_on, "%d %B %Y"), by=check.conducted_by, outcome=outcome,
            notes=check.notes), check.recorded_at, check.conducted_by or ""))
        for label, text in record_parts(check):
            facts.append(Fact(f"{name}: {label}", text, check.recorded_at))
    return facts


def made_aware(learner: Person, incident: Incident) -> list[Fact]:
    """Section B: when the learner first saw the policy for the assignment and opened the
    full policy, per policy version."""
    events = awareness.events(learner.id, incident.placement_id)
    if not events:
        return [Fact(gettext("Made aware"), gettext(
            "No record of the learner opening the policy for this assignment."))]
    return [Fact(str(AWARENESS_KINDS.get(e.kind, gettext("Made aware"))),
                 gettext("Policy %(label)s", label=e.policy_version.label),
                 e.at, learner.display_name) for e in events]


def declaration_facts(learner: Person, incident: Incident) -> list[Fact]:
    """Section C: the declaration in force when the case was raised, what it confirmed, and
    the declaration of authentication."""
    return [Fact(gettext("Declaration"), line) for line in authentication.case_lines(
        learner.id, incident.placement_id, incident.raised_at)]


def authorisations_in_force(learner: Person, incident: Incident) -> list[Fact]:
    """Section C: the ALS authorisations that applied to the assignment when the case was
    raised."""
    found = active_authorisations(learner.id, placement_id=incident.placement_id,
                                  at=incident.raised_at)
    if not found:
        return [Fact(gettext("Authorisations in force"), gettext(
            "None for this assignment when the case was raised."))]
    return [Fact(gettext("Authorisation in force"), gettext(
        "%(tool)s: %(purpose)s; conditions: %(conditions)s; applies to %(where)s; until "
        "%(until)s", tool=a.tool_name, purpose=a.purpose.strip().rstrip("."),
        conditions=a.conditions.strip().rstrip(".") or gettext("none"), where=a.applies_to,
        until=format(a.expires_on, "%d %B %Y")), a.decided_at, gettext("ALS team"))
            for a in found]
