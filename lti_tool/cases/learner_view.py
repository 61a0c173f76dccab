"""What the learner sees of their own cases ("My AI-use cases"): each case's status and next
step in plain words, what is alleged, the evidence disclosed to them, what could happen,
their answer and files, planned checks, the decision letter, their appeal, and their
stage across all courses. Never the withheld evidence or staff notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext

from lti_tool.cases.answers import answer_of, draft_of, learner_cases, learner_files
from lti_tool.cases.appeals import appeal_of, grounds_of, may_appeal
from lti_tool.cases.checks import checks_of
from lti_tool.cases.evidence import evidence_of, learner_summary
from lti_tool.cases.ledger import outcome_label, stage_meaning
from lti_tool.cases.letters import Letter, appeal_letter, assignment_name, decision_letter
from lti_tool.cases.models import (
    ANSWERED,
    APPEAL_PENDING,
    AWAITING_ANSWER,
    FILE_FOR_ANSWER,
    FILE_FOR_APPEAL,
    FOLLOW_UP,
    NOT_UPHELD,
    OPEN_STATES,
    POOR_PRACTICE,
    UPHELD,
    AnswerDraft,
    Appeal,
    AuthenticityCheck,
    Incident,
    IncidentAnswer,
    LearnerFile,
)
from lti_tool.cases.standing import Standing, case_ledger, case_policy, standing_in
from lti_tool.dbtypes import utcnow
from lti_tool.people.models import Person
from lti_tool.policy.service import Policy


def _day(moment: datetime | None) -> str:
    return moment.strftime("%d %B %Y").lstrip("0") if moment is not None else ""


def status_words(incident: Incident, appeal: Appeal | None) -> str:
    """The case's status for the learner."""
    if appeal is not None and appeal.state == APPEAL_PENDING:
        return gettext("Your appeal is being reviewed by someone new to your case")
    if incident.state == AWAITING_ANSWER:
        return gettext("Waiting for your answer")
    if incident.state == ANSWERED:
        return gettext("Your answer has been sent: your tutor is reviewing the case")
    if incident.outcome == UPHELD:
        return gettext("Upheld: Stage %(stage)s of the policy", stage=incident.stage)
    if incident.outcome == POOR_PRACTICE:
        return gettext("Poor academic practice (counts towards no stage)")
    if incident.outcome == NOT_UPHELD:
        return gettext("Not upheld: no further action")
    return gettext("Open")


def next_step(incident: Incident, appeal: Appeal | None) -> str:
    """What happens next, or what the learner can do now."""
    if appeal is not None and appeal.state == APPEAL_PENDING:
        return gettext("You will get a letter with the outcome of your appeal.")
    if incident.state == AWAITING_ANSWER:
        if incident.answer_due_at:
            return gettext("Answer the question by %(date)s: say how this could have occurred. "
                           "You can save a draft and attach your own evidence.",
                           date=_day(incident.answer_due_at))
        return gettext("Answer the question: say how this could have occurred. You can save a "
                       "draft and attach your own evidence.")
    if incident.state == ANSWERED:
        return gettext("Your tutor will read your answer with the evidence and tell you the "
                       "outcome.")
    if incident.state == FOLLOW_UP:
        action = outcome_label(case_policy(incident).rules, incident.stage_action)
        return gettext("Next: %(action)s. Your tutor will contact you with the details.",
                       action=action.lower())
    if may_appeal(incident):
        return gettext("You can appeal until %(date)s.", date=_day(incident.appeal_until))
    return gettext("Nothing more is needed from you.")


@dataclass(frozen=True)
class CaseView:
    incident: Incident
    assignment: str
    status: str
    next_step: str
    disclosed: list[str]
    consequences: str  # the policy's text for the stage an upheld finding would be
    answer: IncidentAnswer | None
    draft: AnswerDraft | None
    answer_files: list[LearnerFile]
    checks: list[AuthenticityCheck]
    letter: Letter | None
    appeal: Appeal | None
    standing: Standing  # the learner's, in the ledger this case counts in
    appeal_grounds: list[str] = field(default_factory=list)
    appeal_files: list[LearnerFile] = field(default_factory=list)
    appeal_letter: Letter | None = None
    may_appeal: bool = False


def case_view(incident: Incident, policy: Policy, current: Standing) -> CaseView:
    """The case as its learner sees it; ``policy`` is the case's, ``current`` the learner's
    standing in the case's ledger."""
    appeal = appeal_of(incident)
    undecided = incident.state in (AWAITING_ANSWER, ANSWERED)
    return CaseView(
        incident=incident, assignment=assignment_name(incident.placement),
        status=status_words(incident, appeal), next_step=next_step(incident, appeal),
        disclosed=[learner_summary(e) for e in evidence_of(incident, disclosed_only=True)],
        consequences=stage_meaning(policy, current.next_stage) if undecided else "",
        answer=answer_of(incident), draft=draft_of(incident),
        answer_files=learner_files(incident, FILE_FOR_ANSWER),
        checks=checks_of(incident),
        letter=decision_letter(incident, policy), appeal=appeal, standing=current,
        appeal_grounds=grounds_of(appeal) if appeal else [],
        appeal_files=learner_files(incident, FILE_FOR_APPEAL) if appeal else [],
        appeal_letter=(appeal_letter(appeal, policy) if appeal and appeal.state !=
                       APPEAL_PENDING else None),
        may_appeal=may_appeal(incident))


@dataclass(frozen=True)
class StageShown:
    """The learner's stage in one ledger, with the policy's words for it."""

    standing: Standing
    stage_text: str


@dataclass(frozen=True)
class MyCases:
    stages: list[StageShown]  # one per ledger the learner has a stage in
    cases: list[CaseView]

    @property
    def per_qualification(self) -> bool:
        return any(shown.standing.per_qualification for shown in self.stages)


def my_cases(learner: Person) -> MyCases:
    """Every case of the learner on the platform, newest first, each under its own policy,
    with their stage in each ledger their cases count in."""
    standings: dict[str, tuple[Standing, Policy]] = {}
    views = []
    for incident in learner_cases(learner):
        ledger = case_ledger(incident)
        if ledger.key not in standings:
            standings[ledger.key] = (standing_in(learner, ledger), ledger.policy)
        current, policy = standings[ledger.key]
        views.append(case_view(incident, policy, current))
    shown = [StageShown(current, stage_meaning(policy, current.stage))
             for current, policy in standings.values() if current.stage]
    return MyCases(shown, views)


def open_cases(learner: Person) -> list[tuple[Incident, str, str]]:
    """The learner's open cases (with a pending appeal too): (case, assignment, next step),
    oldest first, for the top of their activity page."""
    found = []
    for incident in reversed(learner_cases(learner)):
        appeal = appeal_of(incident) if incident.outcome else None
        if incident.state in OPEN_STATES or (appeal and appeal.state == APPEAL_PENDING) or (
                incident.appeal_until and incident.appeal_until >= utcnow()
                and appeal is None):
            found.append((incident, assignment_name(incident.placement),
                          next_step(incident, appeal)))
    return found
