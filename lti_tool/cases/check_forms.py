"""Forms for the checks a learner takes part in (CSRF-protected): planning with a date, time,
place or link, what it is about and how to prepare; moving or cancelling with a reason; the
record (in two parts where the policy data asks); the learner's comment. The rules live
in :mod:`lti_tool.cases.check_plans` and :mod:`lti_tool.cases.checks`."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from lti_tool.cases.check_plans import Schedule
from lti_tool.cases.checks import CHECK_OUTCOMES

_TIME_HINT = lazy_gettext("For example 14:30 (optional).")
_PLACE_HINT = lazy_gettext(
    "A room, an address or a video-call link (optional until it is known).")


class _When(FlaskForm):
    planned_time = StringField(lazy_gettext("Time"), description=_TIME_HINT,
                               validators=[Optional(), Length(max=5)])
    location = StringField(lazy_gettext("Place or link"), description=_PLACE_HINT,
                           validators=[Optional(), Length(max=500)])


class PlanForm(_When):
    method = RadioField(lazy_gettext("Which authenticity check?"),
                        validators=[InputRequired(lazy_gettext("Choose a check."))])
    planned_for = DateField(lazy_gettext("Date (optional)"), validators=[Optional()],
                            description=lazy_gettext(
                                "With a date, the learner is emailed the details."))
    about = TextAreaField(lazy_gettext("What it is about (told to the learner)"),
                          validators=[Optional(), Length(max=5000)],
                          description=lazy_gettext("For example: the sources in section 2 and how "
                                                   "you planned and wrote the work."))
    preparation = TextAreaField(lazy_gettext("How the learner can prepare (told to the learner)"),
                                validators=[Optional(), Length(max=5000)],
                                description=lazy_gettext(
                                    "For example: bring your notes and drafts."))
    assessor = StringField(lazy_gettext("Who will carry it out? (optional)"),
                           validators=[Optional(), Length(max=200)])

    def set_choices(self, checks: list[str]) -> None:
        self.method.choices = [SelectChoice(c, c.capitalize()) for c in checks]

    def schedule(self) -> Schedule | None:
        if self.planned_for.data is None:
            return None
        return Schedule(self.planned_for.data, (self.planned_time.data or "").strip(),
                        self.location.data or "", self.about.data or "",
                        self.preparation.data or "")


class RescheduleForm(_When):
    planned_for = DateField(lazy_gettext("New date"),
                            validators=[InputRequired(lazy_gettext("Enter the new date."))])
    reason = TextAreaField(lazy_gettext("Why is it moving? (the learner is told)"),
                           validators=[DataRequired(lazy_gettext(
                               "Give the reason for the change: the learner is told.")),
                               Length(max=5000)])

    def schedule(self) -> Schedule:
        assert self.planned_for.data is not None  # InputRequired
        return Schedule(self.planned_for.data, (self.planned_time.data or "").strip(),
                        self.location.data or "")


class CancelForm(FlaskForm):
    reason = TextAreaField(lazy_gettext("Why is it cancelled? (the learner is told)"),
                           validators=[DataRequired(lazy_gettext(
                               "Give the reason for the change: the learner is told.")),
                               Length(max=5000)])


class RecordForm(FlaskForm):
    done_on = DateField(lazy_gettext("Date it was done"),
                        validators=[InputRequired(
                            lazy_gettext("Enter the date the check was done."))])
    conducted_by = StringField(lazy_gettext("Who carried it out"),
                               validators=[DataRequired(
                                   lazy_gettext("Enter who carried out the check.")),
                                           Length(max=200)])
    outcome = RadioField(lazy_gettext("Outcome"),
                         choices=[SelectChoice(k, v) for k, v in CHECK_OUTCOMES.items()],
                         validators=[InputRequired(
                             lazy_gettext("Choose the outcome of the check."))])
    subject_knowledge = TextAreaField(
        lazy_gettext("Subject knowledge"), validators=[Optional(), Length(max=10000)],
        description=lazy_gettext("For a two-part record: what the learner showed they know about "
                                 "the subject of the work."))
    production = TextAreaField(
        lazy_gettext("How the learner produced the work"),
        validators=[Optional(), Length(max=10000)],
        description=lazy_gettext("For a two-part record: how they researched, planned, drafted "
                                 "and wrote it (drafts, notes, version history they showed)."))
    notes = TextAreaField(lazy_gettext("Notes"),
                          validators=[DataRequired(lazy_gettext("Enter notes on the check.")),
                                      Length(max=10000)])


class CommentForm(FlaskForm):
    comment = TextAreaField(
        lazy_gettext("Your comment on this record"),
        validators=[DataRequired(lazy_gettext("Write your comment.")),
                    Length(max=5000, message=lazy_gettext("Your comment must be 5,000 characters "
                                                          "or fewer."))],
        description=lazy_gettext("Anything you think is missing or wrong. Your comment is kept "
                                 "with the record and seen by the staff who decide."))
