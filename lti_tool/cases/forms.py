"""Forms for incidents (CSRF-protected). The rules live in
the step modules of :mod:`lti_tool.cases`; these only parse and check what is required."""

from __future__ import annotations

from flask import current_app
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from lti_tool.cases.evidence import size_label
from lti_tool.cases.models import (
    NOT_UPHELD,
    POOR_PRACTICE,
    SOURCE_OBSERVATION,
    UPHELD,
)
from lti_tool.declarations.forms import MultiCheckboxField
from lti_tool.policy.rules import Stage

FILE_HINT = "PDF, Word (.docx), text, PNG or JPEG, up to {limit}."


def file_hint() -> str:
    """The hint under every file field of a case (evidence, answers, appeals)."""
    limit = int(current_app.config["INCIDENT_MAX_UPLOAD_BYTES"])
    return FILE_HINT.format(limit=size_label(limit))


class IncidentForm(FlaskForm):
    source = RadioField("Where did the concern come from?",
                        validators=[InputRequired("Choose where the concern came from.")])
    checker_result = StringField(
        "The system's score or report reference",
        validators=[Optional(), Length(max=500)],
        description="Only if you used an AI-checking system, for example '78% likely AI' or "
                    "the report number. It is one piece of evidence that needs your "
                    "judgement: it is not a verdict.")
    observations = TextAreaField(
        "Your observations",
        validators=[DataRequired("Describe what you observed in the work."),
                    Length(max=10000)],
        description="What in the work made you concerned, in your own words.")
    evidence_label = StringField("What is the further evidence? (optional)",
                                 validators=[Optional(), Length(max=200)])
    evidence_text = TextAreaField("Further evidence (optional)",
                                  validators=[Optional(), Length(max=20000)])
    evidence_file = FileField("Attach a file (optional)")
    detection_withheld = BooleanField("Do not show the checker result to the learner")
    detection_withheld_reason = TextAreaField(
        "Why the learner is not shown the checker result",
        validators=[Optional(), Length(max=2000)],
        description="Staff see this reason. By default the learner is shown the score and a "
                    "summary.")
    evidence_withheld = BooleanField("Do not show the further evidence to the learner")
    evidence_withheld_reason = TextAreaField(
        "Why the learner is not shown the further evidence",
        validators=[Optional(), Length(max=2000)], description="Staff see this reason.")
    planned_checks = MultiCheckboxField(
        "Authenticity checks you plan (optional)", validate_choice=False,
        description="The policy's checks. You can plan them, and record when they are done, "
                    "on the incident's page.")

    def set_choices(self, checkers: list[str], checks: list[str]) -> None:
        self.source.choices = [
            *(SelectChoice(c, f"{c} (an AI-checking system authorised by IT)")
              for c in checkers),
            SelectChoice(SOURCE_OBSERVATION, "My own observation (no AI-checking system)"),
        ]
        self.planned_checks.choices = [SelectChoice(c, c.capitalize()) for c in checks]


class EvidenceForm(FlaskForm):
    label = StringField("What is this evidence?",
                        validators=[DataRequired("Say what this evidence is."),
                                    Length(max=200)],
                        description="For example 'Draft submitted in week 3' or 'Notes from "
                                    "the learner's tutor'.")
    text = TextAreaField("Details (optional)", validators=[Optional(), Length(max=20000)])
    file = FileField("Attach a file (optional)")
    withheld = BooleanField("Do not show this evidence to the learner")
    withheld_reason = TextAreaField("Why the learner is not shown it",
                                    validators=[Optional(), Length(max=2000)],
                                    description="Staff see this reason.")


class DecisionForm(FlaskForm):
    outcome = RadioField("The finding",
                         validators=[InputRequired("Choose the finding.")])
    # The next stage's outcomes, when the policy lets the decider choose (set_choices).
    stage_action = RadioField("What will the learner do?", choices=[],
                              validators=[Optional()], validate_choice=False)
    relied_on = MultiCheckboxField(
        "The evidence you relied on", validate_choice=False,
        description="Required to uphold. An AI-checker result alone cannot uphold a case.")
    account_reasons = TextAreaField(
        "Why the learner's account was or was not accepted",
        validators=[Optional(), Length(max=10000)], description="Required to uphold.")
    reasons = TextAreaField("Why this outcome",
                            validators=[DataRequired("Give the reasons for your decision."),
                                        Length(max=10000)],
                            description="Refer to the learner's answer, the evidence and the "
                                        "authenticity checks.")
    without_answer_reason = TextAreaField(
        "Why you are deciding without the learner's answer",
        validators=[Optional(), Length(max=5000)],
        description="Possible only after the answer deadline, or once the learner has said "
                    "they will not answer.")
    acknowledged = BooleanField("I have considered the learner's authorisations, "
                                "adjustments and declarations shown above")
    expected_stage = HiddenField()

    def set_choices(self, next_stage: Stage, *, poor_practice: bool = False,
                    sources: list[tuple[str, str]] | None = None) -> None:
        """The findings (upholding gives ``next_stage``), the stage's outcomes to choose
        from, and the evidence that may be relied on."""
        if next_stage.choice:
            self.stage_action.label.text = (f"For Stage {next_stage.number}, what will the "
                                            "learner do?")
            self.stage_action.choices = [SelectChoice(o.key, o.learner_text[:1].upper()
                                                      + o.learner_text[1:])
                                         for o in next_stage.outcomes]
        self.outcome.choices = [
            SelectChoice(NOT_UPHELD, "Not upheld: close the case. It does not count "
                                     "towards a stage."),
            *([SelectChoice(POOR_PRACTICE, "Poor academic practice: an educational outcome "
                                           "that does not count towards a stage.")]
              if poor_practice else []),
            SelectChoice(UPHELD, f"Upheld: the learner reaches Stage {next_stage.number}."),
        ]
        self.relied_on.choices = [SelectChoice(k, v) for k, v in (sources or [])]


class FollowUpForm(FlaskForm):
    result = RadioField("Result", validators=[InputRequired("Choose the result.")])
    done_on = DateField("Date", validators=[InputRequired("Enter the date.")])
    notes = TextAreaField("Notes", validators=[DataRequired("Enter notes on the result."),
                                               Length(max=10000)],
                          description="For a report to the awarding body, include its "
                                      "reference.")

    def set_choices(self, results: dict[str, str]) -> None:
        self.result.choices = [SelectChoice(k, v) for k, v in results.items()]


class SuspicionReportedForm(FlaskForm):
    """The reporting team records that a suspicion was reported to the awarding body."""

    done_on = DateField("Date reported", validators=[InputRequired("Enter the date.")])
    notes = TextAreaField("How and to whom it was reported",
                          validators=[DataRequired("Enter how and to whom it was reported."),
                                      Length(max=10000)],
                          description="Include the awarding body's reference.")


class WithdrawForm(FlaskForm):
    reason = TextAreaField("Why is the decision being withdrawn?",
                           validators=[DataRequired("Give the reason for withdrawing the "
                                                    "decision."), Length(max=10000)])


class NoteForm(FlaskForm):
    text = TextAreaField("Note", validators=[DataRequired("Enter the note."),
                                             Length(max=10000)])
    corrects = SelectField("Does it correct an earlier step? (optional)",
                           validators=[Optional()], validate_choice=False)


class AnswerForm(FlaskForm):
    answer = TextAreaField(
        "How could this have occurred?",
        validators=[DataRequired("Write your answer."),
                    Length(max=10000, message="Your answer must be 10,000 characters or "
                                              "fewer.")],
        description="Explain in your own words how you prepared and wrote this work, and "
                    "any AI tools you used and when.")


class DraftAnswerForm(FlaskForm):
    """The answer page's other buttons: save a draft, attach a file, say you will not
    answer (the answer itself is :class:`AnswerForm`)."""

    answer = TextAreaField("How could this have occurred?",
                           validators=[Optional(), Length(max=10000, message=(
                               "Your answer must be 10,000 characters or fewer."))])
    file = FileField("Attach a file (optional)")


class AppealForm(FlaskForm):
    grounds = MultiCheckboxField("The grounds of your appeal", validate_choice=False,
                                 description="Choose all that apply.")
    text = TextAreaField("Why you are appealing",
                         validators=[DataRequired("Explain why you are appealing."),
                                     Length(max=10000)],
                         description="Say what went wrong, and what you would like to "
                                     "happen.")
    file = FileField("Attach a file (optional)")


class AppealReviewForm(FlaskForm):
    result = RadioField("Your decision on the appeal",
                        validators=[InputRequired("Choose whether to dismiss or uphold the "
                                                  "appeal.")])
    replacement = RadioField("If you uphold it, what happens to the decision?",
                             validators=[Optional()], validate_choice=False)
    reasons = TextAreaField("Your reasons",
                            validators=[DataRequired("Give the reasons for your decision on "
                                                     "the appeal."), Length(max=10000)])
