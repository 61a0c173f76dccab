"""Forms for incidents (CSRF-protected). The rules live in
the step modules of :mod:`lti_tool.cases`; these only parse and check what is required."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext, lazy_gettext
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


def file_hint() -> str:
    """The hint under every file field of a case (evidence, answers, appeals)."""
    limit = int(current_app.config["INCIDENT_MAX_UPLOAD_BYTES"])
    return gettext("PDF, Word (.docx), text, PNG or JPEG, up to %(limit)s.",
                   limit=size_label(limit))


class IncidentForm(FlaskForm):
    source = RadioField(lazy_gettext("Where did the concern come from?"),
                        validators=[InputRequired(
                            lazy_gettext("Choose where the concern came from."))])
    checker_result = StringField(
        lazy_gettext("The system's score or report reference"),
        validators=[Optional(), Length(max=500)],
        description=lazy_gettext("Only if you used an AI-checking system, for example '78% likely "
                                 "AI' or the report number. It is one piece of evidence that needs "
                                 "your judgement: it is not a verdict."))
    observations = TextAreaField(
        lazy_gettext("Your observations"),
        validators=[DataRequired(lazy_gettext("Describe what you observed in the work.")),
                    Length(max=10000)],
        description=lazy_gettext("What in the work made you concerned, in your own words."))
    evidence_label = StringField(lazy_gettext("What is the further evidence? (optional)"),
                                 validators=[Optional(), Length(max=200)])
    evidence_text = TextAreaField(lazy_gettext("Further evidence (optional)"),
                                  validators=[Optional(), Length(max=20000)])
    evidence_file = FileField(lazy_gettext("Attach a file (optional)"))
    detection_withheld = BooleanField(lazy_gettext("Do not show the checker result to the learner"))
    detection_withheld_reason = TextAreaField(
        lazy_gettext("Why the learner is not shown the checker result"),
        validators=[Optional(), Length(max=2000)],
        description=lazy_gettext("Staff see this reason. By default the learner is shown the score "
                                 "and a summary."))
    evidence_withheld = BooleanField(lazy_gettext("Do not show the further evidence to the "
                                                  "learner"))
    evidence_withheld_reason = TextAreaField(
        lazy_gettext("Why the learner is not shown the further evidence"),
        validators=[Optional(), Length(max=2000)],
        description=lazy_gettext("Staff see this reason."))
    planned_checks = MultiCheckboxField(
        lazy_gettext("Authenticity checks you plan (optional)"), validate_choice=False,
        description=lazy_gettext("The policy's checks. You can plan them, and record when they are "
                                 "done, on the incident's page."))

    def set_choices(self, checkers: list[str], checks: list[str]) -> None:
        self.source.choices = [
            *(SelectChoice(c, gettext("%(checker)s (an AI-checking system authorised by IT)",
                                     checker=c))
              for c in checkers),
            SelectChoice(SOURCE_OBSERVATION, gettext("My own observation (no AI-checking system)")),
        ]
        self.planned_checks.choices = [SelectChoice(c, c.capitalize()) for c in checks]


class EvidenceForm(FlaskForm):
    label = StringField(lazy_gettext("What is this evidence?"),
                        validators=[DataRequired(lazy_gettext("Say what this evidence is.")),
                                    Length(max=200)],
                        description=lazy_gettext("For example 'Draft submitted in week 3' or "
                                                 "'Notes from the learner's tutor'."))
    text = TextAreaField(lazy_gettext("Details (optional)"),
                         validators=[Optional(), Length(max=20000)])
    file = FileField(lazy_gettext("Attach a file (optional)"))
    withheld = BooleanField(lazy_gettext("Do not show this evidence to the learner"))
    withheld_reason = TextAreaField(lazy_gettext("Why the learner is not shown it"),
                                    validators=[Optional(), Length(max=2000)],
                                    description=lazy_gettext("Staff see this reason."))


class DecisionForm(FlaskForm):
    outcome = RadioField(lazy_gettext("The finding"),
                         validators=[InputRequired(lazy_gettext("Choose the finding."))])
    # The next stage's outcomes, when the policy lets the decider choose (set_choices).
    stage_action = RadioField(lazy_gettext("What will the learner do?"), choices=[],
                              validators=[Optional()], validate_choice=False)
    relied_on = MultiCheckboxField(
        lazy_gettext("The evidence you relied on"), validate_choice=False,
        description=lazy_gettext("Required to uphold. An AI-checker result alone cannot uphold a "
                                 "case."))
    account_reasons = TextAreaField(
        lazy_gettext("Why the learner's account was or was not accepted"),
        validators=[Optional(), Length(max=10000)], description=lazy_gettext("Required to uphold."))
    reasons = TextAreaField(lazy_gettext("Why this outcome"),
                            validators=[DataRequired(
                                lazy_gettext("Give the reasons for your decision.")),
                                        Length(max=10000)],
                            description=lazy_gettext("Refer to the learner's answer, the evidence "
                                                     "and the authenticity checks."))
    without_answer_reason = TextAreaField(
        lazy_gettext("Why you are deciding without the learner's answer"),
        validators=[Optional(), Length(max=5000)],
        description=lazy_gettext("Possible only after the answer deadline, or once the learner has "
                                 "said they will not answer."))
    acknowledged = BooleanField(lazy_gettext("I have considered the learner's authorisations, "
                                             "adjustments and declarations shown above"))
    expected_stage = HiddenField()

    def set_choices(self, next_stage: Stage, *, poor_practice: bool = False,
                    sources: list[tuple[str, str]] | None = None) -> None:
        """The findings (upholding gives ``next_stage``), the stage's outcomes to choose
        from, and the evidence that may be relied on."""
        if next_stage.choice:
            self.stage_action.label.text = gettext(
                "For Stage %(stage)s, what will the learner do?", stage=next_stage.number)
            self.stage_action.choices = [SelectChoice(o.key, o.learner_text[:1].upper()
                                                      + o.learner_text[1:])
                                         for o in next_stage.outcomes]
        self.outcome.choices = [
            SelectChoice(NOT_UPHELD, gettext("Not upheld: close the case. It does not count "
                                             "towards a stage.")),
            *([SelectChoice(POOR_PRACTICE, gettext("Poor academic practice: an educational outcome "
                                                   "that does not count towards a stage."))]
              if poor_practice else []),
            SelectChoice(UPHELD, gettext("Upheld: the learner reaches Stage %(stage)s.",
                                         stage=next_stage.number)),
        ]
        self.relied_on.choices = [SelectChoice(k, v) for k, v in (sources or [])]


class FollowUpForm(FlaskForm):
    result = RadioField(lazy_gettext("Result"),
                        validators=[InputRequired(lazy_gettext("Choose the result."))])
    done_on = DateField(lazy_gettext("Date"),
                        validators=[InputRequired(lazy_gettext("Enter the date."))])
    notes = TextAreaField(lazy_gettext("Notes"),
                          validators=[DataRequired(lazy_gettext("Enter notes on the result.")),
                                      Length(max=10000)],
                          description=lazy_gettext("For a report to the awarding body, include its "
                                                   "reference."))

    def set_choices(self, results: dict[str, str]) -> None:
        self.result.choices = [SelectChoice(k, v) for k, v in results.items()]


class SuspicionReportedForm(FlaskForm):
    """The reporting team records that a suspicion was reported to the awarding body."""

    done_on = DateField(lazy_gettext("Date reported"),
                        validators=[InputRequired(lazy_gettext("Enter the date."))])
    notes = TextAreaField(lazy_gettext("How and to whom it was reported"),
                          validators=[DataRequired(lazy_gettext("Enter how and to whom it was "
                                                                "reported.")),
                                      Length(max=10000)],
                          description=lazy_gettext("Include the awarding body's reference."))


class WithdrawForm(FlaskForm):
    reason = TextAreaField(lazy_gettext("Why is the decision being withdrawn?"),
                           validators=[DataRequired(lazy_gettext(
                               "Give the reason for withdrawing the decision.")),
                               Length(max=10000)])


class NoteForm(FlaskForm):
    text = TextAreaField(lazy_gettext("Note"),
                         validators=[DataRequired(lazy_gettext("Enter the note.")),
                                     Length(max=10000)])
    corrects = SelectField(lazy_gettext("Does it correct an earlier step? (optional)"),
                           validators=[Optional()], validate_choice=False)


class AnswerForm(FlaskForm):
    answer = TextAreaField(
        lazy_gettext("How could this have occurred?"),
        validators=[DataRequired(lazy_gettext("Write your answer.")),
                    Length(max=10000, message=lazy_gettext("Your answer must be 10,000 characters "
                                                           "or fewer."))],
        description=lazy_gettext("Explain in your own words how you prepared and wrote this work, "
                                 "and any AI tools you used and when."))


class DraftAnswerForm(FlaskForm):
    """The answer page's other buttons: save a draft, attach a file, say you will not
    answer (the answer itself is :class:`AnswerForm`)."""

    answer = TextAreaField(lazy_gettext("How could this have occurred?"),
                           validators=[Optional(), Length(max=10000, message=(
                               lazy_gettext("Your answer must be 10,000 characters or fewer.")))])
    file = FileField(lazy_gettext("Attach a file (optional)"))


class AppealForm(FlaskForm):
    grounds = MultiCheckboxField(lazy_gettext("The grounds of your appeal"), validate_choice=False,
                                 description=lazy_gettext("Choose all that apply."))
    text = TextAreaField(lazy_gettext("Why you are appealing"),
                         validators=[DataRequired(lazy_gettext("Explain why you are appealing.")),
                                     Length(max=10000)],
                         description=lazy_gettext("Say what went wrong, and what you would like to "
                                                  "happen."))
    file = FileField(lazy_gettext("Attach a file (optional)"))


class AppealReviewForm(FlaskForm):
    result = RadioField(lazy_gettext("Your decision on the appeal"),
                        validators=[InputRequired(lazy_gettext("Choose whether to dismiss or "
                                                               "uphold the appeal."))])
    replacement = RadioField(lazy_gettext("If you uphold it, what happens to the decision?"),
                             validators=[Optional()], validate_choice=False)
    reasons = TextAreaField(lazy_gettext("Your reasons"),
                            validators=[DataRequired(lazy_gettext(
                                "Give the reasons for your decision on the appeal.")),
                                Length(max=10000)])
