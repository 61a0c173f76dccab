"""Forms for learners' requests and ALS decisions (server-side validation, CSRF)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, StopValidation

from lti_tool.dbtypes import utcnow
from lti_tool.formfields import RadioGroup
from lti_tool.notifications.models import FREQUENCIES, FREQUENCY_LABELS
from lti_tool.requests.models import (
    APPROVED,
    DECLINED,
    MORE_INFO,
    OTHER,
    REASON_LABELS,
    REASONS,
    REVOKED,
    SCOPE_LABELS,
    SCOPES,
    STAFF_SCOPE_LABELS,
)


class VersionedForm(FlaskForm):
    # The request's version the person saw: their change only applies to that state.
    version = HiddenField()

    def version_number(self) -> int:
        try:
            return int(self.version.data or "")
        except ValueError:
            return -1


def _length(limit: int) -> Length:
    return Length(max=limit, message=lazy_gettext("Keep this under %(max)d characters."))


class RequestForm(FlaskForm):
    tool_name = StringField(
        lazy_gettext("Which AI tool do you want to use?"),
        validators=[DataRequired(lazy_gettext("Name the AI tool, for example Microsoft Copilot.")),
                    _length(200)])
    # What the learner wants to do with the tool: the ALS team and course staff see it.
    purpose = TextAreaField(
        lazy_gettext("What do you want to use it for?"),
        validators=[DataRequired(lazy_gettext("Say what you want to use the AI tool for.")),
                    _length(2000)])
    # Why they need it (a disability, language support...): only the ALS team sees it.
    reason = RadioGroup(
        lazy_gettext("Why do you need it?"), options=[(r, REASON_LABELS[r]) for r in REASONS],
        message=lazy_gettext("Choose why you need the AI tool."))
    # No Optional() here: it would stop the chain before validate_reason_detail runs.
    reason_detail = TextAreaField(lazy_gettext("Tell us more about why you need it"),
                                  validators=[_length(2000)])
    scope = RadioGroup(
        lazy_gettext("Where do you want to use it?"),
        options=[(s, SCOPE_LABELS[s]) for s in SCOPES],
        message=lazy_gettext("Choose where you want to use the AI tool."))
    supporting_detail = TextAreaField(
        lazy_gettext("Anything else the ALS team should know (optional)"),
        validators=[_length(4000)])

    def validate_reason_detail(self, field: Any) -> None:
        if self.reason.data == OTHER and not (field.data or "").strip():
            raise StopValidation(gettext("Tell us your reason, as you chose 'Another reason'."))


class AnswerForm(VersionedForm):
    answer = TextAreaField(lazy_gettext("Your answer"), validators=[
        DataRequired(lazy_gettext("Write your answer to the ALS team's question.")), _length(4000)])


class WithdrawForm(VersionedForm):
    pass


DECISION_LABELS = {
    APPROVED: "Approve",
    DECLINED: "Decline",
    MORE_INFO: "Ask the learner for more information",
    REVOKED: "Revoke the authorisation",
}


class DecisionForm(VersionedForm):
    outcome = RadioGroup(lazy_gettext("Decision"), message=lazy_gettext("Choose a decision."))
    conditions = TextAreaField(lazy_gettext("Conditions of use"), validators=[_length(2000)])
    scope = RadioGroup(lazy_gettext("Where the authorisation applies"),
                       options=[(s, STAFF_SCOPE_LABELS[s]) for s in SCOPES],
                       message=lazy_gettext("Choose where the authorisation applies."))
    expires_on = StringField(lazy_gettext("Expiry date"), render_kw={"type": "date"})
    reason = TextAreaField(lazy_gettext("Reason"), validators=[_length(2000)])
    question = TextAreaField(lazy_gettext("Question for the learner"), validators=[_length(2000)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expiry: date | None = None

    def offer(self, outcomes: tuple[str, ...]) -> None:
        """The decisions the radio group offers (and accepts)."""
        self.outcome.options = [(o, DECISION_LABELS[o]) for o in outcomes]

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        outcome = self.outcome.data
        if outcome == APPROVED:
            if not (self.conditions.data or "").strip():
                self._add_error(self.conditions,
                                gettext("Write the conditions the learner must keep to."))
            self._check_expiry()
        else:
            # Only an approval has a scope: the radio group need not be answered.
            self.scope.errors = []
        if outcome in (DECLINED, REVOKED) and not (self.reason.data or "").strip():
            self._add_error(self.reason, gettext("Give the reason for the decision."))
        if outcome == MORE_INFO and not (self.question.data or "").strip():
            self._add_error(self.question, gettext("Write your question for the learner."))
        return not any(field.errors for field in self)

    @staticmethod
    def _add_error(field: Any, message: str) -> None:
        field.errors = [*field.errors, message]

    def _check_expiry(self) -> None:
        raw = (self.expires_on.data or "").strip()
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            self._add_error(self.expires_on,
                            gettext("Enter the expiry date, for example 2027-07-31."))
            return
        if value <= utcnow().date():
            self._add_error(self.expires_on, gettext("The expiry date must be in the future."))
            return
        self.expiry = value


class NotificationForm(FlaskForm):
    frequency = RadioGroup(lazy_gettext("Email me about new requests and learners' answers"),
                           options=[(f, FREQUENCY_LABELS[f]) for f in FREQUENCIES],
                           message=lazy_gettext("Choose how often you want to be emailed."))
