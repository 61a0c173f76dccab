"""A policy's rules, typed: the stages and what a decider may choose at each, what counts
towards a stage, the awarding bodies, the case process's time limits, retention and contacts.

The case code reads these instead of constants, so a provider with four stages, counting
per qualification or reporting at once needs only a different policy file
(``lti_tool/policy/policy.schema.json`` documents every field).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCOPE_PLATFORM = "platform"
SCOPE_QUALIFICATION = "qualification"
ON_SUSPICION = "on_suspicion"
AT_STAGE = "at_stage"


@dataclass(frozen=True)
class FollowUpResult:
    key: str
    label: str


@dataclass(frozen=True)
class Outcome:
    """What a decider may decide for an upheld incident, and what it then requires."""

    key: str
    label: str
    learner_text: str
    follow_up: tuple[FollowUpResult, ...]  # empty: nothing to record later; the case closes
    report: bool  # a report is sent to the awarding body
    learner_next: str = ""  # what the learner is told happens now (see :func:`parse`)

    @property
    def needs_follow_up(self) -> bool:
        return bool(self.follow_up)


@dataclass(frozen=True)
class Stage:
    number: int
    text: str
    outcomes: tuple[Outcome, ...]
    removal_flag: bool
    disciplinary_flag: bool

    @property
    def choice(self) -> bool:
        """The decider chooses among several outcomes (otherwise the one is applied)."""
        return len(self.outcomes) > 1

    def outcome(self, key: str | None) -> Outcome | None:
        """The outcome ``key`` if this stage allows it; the only outcome when there is no
        choice; None otherwise."""
        if not self.choice:
            return self.outcomes[0]
        return next((o for o in self.outcomes if o.key == key), None)


@dataclass(frozen=True)
class Counting:
    counts: str  # "upheld": only upheld incidents count
    poor_academic_practice_counts: bool
    scope: str  # SCOPE_PLATFORM or SCOPE_QUALIFICATION


@dataclass(frozen=True)
class Reporting:
    when: str  # ON_SUSPICION or AT_STAGE
    stage: int | None
    unless_before_authentication: bool


@dataclass(frozen=True)
class AwardingBody:
    key: str
    name: str
    short_name: str
    reporting: Reporting
    appeal_route: str

    @property
    def reports_on_suspicion(self) -> bool:
        return self.reporting.when == ON_SUSPICION

    def reports_at(self, stage: int) -> bool:
        """A case reaching ``stage`` (upheld) is reported to this body."""
        return (self.reporting.when == AT_STAGE and self.reporting.stage is not None
                and stage >= self.reporting.stage)


@dataclass(frozen=True)
class CaseProcess:
    """The policy data that shapes a case (``case_process``; defaults where a version has
    none): the learner's response window in working days (``response_working_days``, else
    ``response_window_days``), the appeal window in days (``appeal_days``, else
    ``appeal_window_days``), the step targets, when poor academic practice may be found, each
    awarding body's appeals procedure (by qualification, with ``default``) and the checks
    whose record has two parts."""

    response_window_days: int
    appeal_window_days: int
    step_targets_days: dict[str, int] = field(default_factory=dict)
    response_working_days: int = 10
    appeal_days: int = 14
    poor_academic_practice: str = "first_case"
    awarding_body_appeals: tuple[tuple[str, str], ...] = ()
    two_part_checks: tuple[str, ...] = ()

    @property
    def example_check(self) -> str:
        """A check of the work to name as an example to the learner (the first two-part
        check the policy names)."""
        return self.two_part_checks[0] if self.two_part_checks else "discussion of the work"

    def next_route(self, awarding_body: str | None) -> str:
        """The awarding body's appeals procedure, in the policy's words."""
        routes = dict(self.awarding_body_appeals)
        return routes.get(awarding_body or "", routes.get(
            "default", "If you are not satisfied once our own appeals procedure is complete, "
            "you can take your case to your awarding body under its appeals procedure."))


@dataclass(frozen=True)
class Retention:
    upheld_years: int
    not_upheld_years: int
    reported_years: int
    declarations_years: int


@dataclass(frozen=True)
class Contact:
    key: str
    name: str
    role: str
    email: str
    phone: str
    url: str


# The defaults the schema documents for optional sections.
DEFAULT_CASE_PROCESS = {"response_window_days": 14, "appeal_window_days": 14}
DEFAULT_RETENTION = {"upheld_years": 6, "not_upheld_years": 1, "reported_years": 6,
                     "declarations_years": 6}


@dataclass(frozen=True)
class Rules:
    stages: tuple[Stage, ...]
    outcomes: tuple[Outcome, ...]
    counting: Counting
    awarding_bodies: tuple[AwardingBody, ...]
    case_process: CaseProcess
    retention: Retention
    contacts: tuple[Contact, ...]

    @property
    def last_stage(self) -> int:
        return self.stages[-1].number

    def stage_for(self, ordinal: int) -> Stage:
        """The stage of the ``ordinal``-th counted incident (1-based): after the last stage,
        the last stage again (repeated misuse)."""
        return self.stages[min(max(ordinal, 1), len(self.stages)) - 1]

    def stage(self, number: int) -> Stage:
        return self.stage_for(number)

    def outcome(self, key: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.key == key), None)

    def awarding_body(self, key: str | None) -> AwardingBody | None:
        return next((b for b in self.awarding_bodies if b.key == key), None)

    @property
    def awarding_body_choices(self) -> list[tuple[str, str]]:
        return [(b.key, b.short_name) for b in self.awarding_bodies]

    def reported(self, awarding_body: str | None, stage: int) -> bool:
        """A case upheld at ``stage`` in a course of ``awarding_body`` is reported to it (a
        body that reports on suspicion: always; one the policy does not name: at the last
        stage)."""
        body = self.awarding_body(awarding_body)
        if body is None:
            return stage >= self.last_stage
        return body.reports_on_suspicion or body.reports_at(stage)

    @property
    def first_reported_stage(self) -> int:
        """The lowest stage any awarding body (or the last stage) is told of (the first, for
        a body told on suspicion)."""
        if any(b.reports_on_suspicion for b in self.awarding_bodies):
            return self.stages[0].number
        return min([b.reporting.stage for b in self.awarding_bodies
                    if b.reporting.stage is not None] + [self.last_stage])

    def contact(self, key: str) -> Contact | None:
        return next((c for c in self.contacts if c.key == key), None)


def _learner_next(outcome: dict[str, Any]) -> str:
    """The outcome's ``learner_next``, or the sentence the format documents without it."""
    if outcome.get("learner_next"):
        return str(outcome["learner_next"])
    does = outcome.get("learner_text") or outcome["label"]
    if (outcome.get("follow_up") or {}).get("results"):
        return f"You will be asked to {does}. Your tutor will contact you with the details."
    return f"You will {does}."


def parse(data: dict[str, Any]) -> Rules:
    """The rules of a validated policy document (see :func:`validate_content`)."""
    outcomes = tuple(
        Outcome(o["key"], o["label"], o.get("learner_text") or o["label"],
                tuple(FollowUpResult(r["key"], r["label"])
                      for r in (o.get("follow_up") or {}).get("results", [])),
                bool(o.get("report", False)), _learner_next(o))
        for o in data["outcomes"])
    by_key = {o.key: o for o in outcomes}
    stages = tuple(Stage(s["stage"], s["text"], tuple(by_key[k] for k in s["outcomes"]),
                         bool(s.get("removal_flag", False)),
                         bool(s.get("disciplinary_flag", False)))
                   for s in data["stages"])
    counting = data.get("counting") or {}
    bodies = tuple(
        AwardingBody(b["key"], b["name"], b.get("short_name") or b["key"],
                     Reporting(b["reporting"]["when"], b["reporting"].get("stage"),
                               bool(b["reporting"].get("unless_before_authentication"))),
                     b.get("appeal_route", ""))
        for b in data["awarding_bodies"])
    process = {**DEFAULT_CASE_PROCESS, **(data.get("case_process") or {})}
    retention = {**DEFAULT_RETENTION, **(data.get("retention") or {})}
    contacts = tuple(Contact(c["key"], c["name"], c.get("role", ""), c.get("email", ""),
                             c.get("phone", ""), c.get("url", ""))
                     for c in data.get("contacts") or [])
    return Rules(
        stages=stages, outcomes=outcomes,
        counting=Counting(counting.get("counts", "upheld"),
                          bool(counting.get("poor_academic_practice_counts", False)),
                          counting.get("scope", SCOPE_PLATFORM)),
        awarding_bodies=bodies,
        case_process=CaseProcess(
            process["response_window_days"], process["appeal_window_days"],
            dict(process.get("step_targets_days") or {}),
            response_working_days=int(process.get("response_working_days", 10)),
            appeal_days=int(process.get("appeal_days", 14)),
            poor_academic_practice=str(process.get("poor_academic_practice", "first_case")),
            awarding_body_appeals=tuple(sorted(
                (str(k), str(v)) for k, v in (process.get("awarding_body_appeals")
                                              or {}).items())),
            two_part_checks=tuple(str(c) for c in process.get("two_part_checks") or ())),
        retention=Retention(**retention), contacts=contacts)
