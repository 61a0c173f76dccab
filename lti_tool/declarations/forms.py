"""Forms for placement settings and declarations (CSRF-protected; the rules themselves live
in :mod:`lti_tool.declarations.service` so they hold whatever the form sends)."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from lti_tool.policy.service import Policy


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class SettingsForm(FlaskForm):
    title = StringField(lazy_gettext("Title of the declaration activity"),
                        validators=[DataRequired(lazy_gettext("Enter a title.")),
                                    Length(max=200)])
    assignment_name = StringField(
        lazy_gettext("The Moodle assignment it covers"),
        validators=[DataRequired(lazy_gettext("Enter the name of the assignment.")),
                    Length(max=200)],
        description=lazy_gettext(
            "As it appears in the course, for example 'Unit 5CO01 assignment'."))
    # Offered only when several policies are published.
    policy_reference = RadioField(lazy_gettext("The policy this assignment follows"), choices=[],
                                  validate_choice=False)
    # The policy whose permitted uses and awarding bodies the page showed.
    shown_policy = HiddenField()
    qualification = RadioField(lazy_gettext("Qualification"), choices=[], validate_choice=False)
    permitted_uses = MultiCheckboxField(
        lazy_gettext("Permitted uses of AI for this assignment"),
        validators=[DataRequired(lazy_gettext("Choose at least one permitted use."))],
        description=lazy_gettext("Learners may only declare the uses you leave ticked."))
    guidance = TextAreaField(lazy_gettext("Extra guidance for this assignment (optional)"),
                             validators=[Optional(), Length(max=2000)])
    comprehension_check = BooleanField(
        lazy_gettext("Ask learners the policy's comprehension questions before they declare"),
        description=lazy_gettext("A few questions about the policy's rules; a wrong answer "
                                 "shows the policy's reason and the learner tries again."))

    def set_policy(self, policy: Policy, available: list[Policy] | None = None,
                   default: Policy | None = None) -> None:
        """Offer ``policy``'s permitted uses and awarding bodies; with several ``available``
        policies, the choice between them (``default``: the platform's)."""
        self.permitted_uses.choices = [SelectChoice(u.key, u.text) for u in policy.permitted_uses]
        if not self.is_submitted() and not self.permitted_uses.data:
            self.permitted_uses.data = [u.key for u in policy.permitted_uses]
        bodies = policy.rules.awarding_body_choices
        self.qualification.choices = [SelectChoice(key, name) for key, name in bodies]
        self.qualification.validators = [InputRequired(
            "Choose " + " or ".join(name for _, name in bodies) + ".")]
        self.shown_policy.data = policy.reference
        if available and len(available) > 1:
            site = default.reference if default else None
            self.policy_reference.choices = [SelectChoice(
                p.reference, f"{p.title} ({p.label})"
                + (": this Moodle site's policy" if p.reference == site else ""))
                for p in available]
        else:
            del self.policy_reference

    @property
    def offers_policies(self) -> bool:
        return "policy_reference" in self._fields


class DeclarationForm(FlaskForm):
    uses_ai = RadioField(
        lazy_gettext("Have you used, or will you use, AI before you start this assignment?"),
        choices=[SelectChoice("yes", lazy_gettext("Yes, before I start")),
                 SelectChoice("no", lazy_gettext("No"))],
        validators=[InputRequired(lazy_gettext("Choose Yes or No."))])
    permitted_uses = MultiCheckboxField(lazy_gettext("What for?"), validate_choice=False)
    ai_tools = TextAreaField(lazy_gettext("Which AI tools?"),
                             validators=[Optional(), Length(max=2000)],
                             description=lazy_gettext("One per line, for example ChatGPT or "
                                                      "Microsoft Copilot."))
    # Not shown: every authorisation the learner holds is written into their statements.
    # A posted claim is still checked, so nobody can rely on one they do not hold.
    authorisations = MultiCheckboxField(lazy_gettext("AI tools you are authorised to use"),
                                        validate_choice=False)
    confirmed_no_personal_data = BooleanField(
        "I have not entered, and will not enter, company or personal data into personal or "
        "public AI tools.")
    confirmed_no_ai_after_start = BooleanField(
        "I will not use AI once I start the assignment, including to check spelling and "
        "grammar, check my work meets the assessment criteria, compile references or "
        "citations, or reduce the word count.")
    confirmed_own_work = BooleanField("The work I submit will be my own.")
    signature = StringField(lazy_gettext("Type your full name to sign"),
                            validators=[Optional(), Length(max=200)])

    def set_choices(self, uses: list[tuple[str, str]],
                    authorisations: list[tuple[str, str]]) -> None:
        self.permitted_uses.choices = [SelectChoice(v, label) for v, label in uses]
        self.authorisations.choices = [SelectChoice(v, label) for v, label in authorisations]

    def set_statements(self, statements: list[tuple[str, str]]) -> None:
        """Label each confirmation with the statement the learner is asked to confirm."""
        for name, text in statements:
            self[name].label.text = text


class AuthenticationForm(FlaskForm):
    confirmed = BooleanField(lazy_gettext("I confirm this declaration."))
    signature = StringField(lazy_gettext("Type your full name to sign"),
                            validators=[Optional(), Length(max=200)])


class ComprehensionForm(FlaskForm):
    """The comprehension check: one radio group per question of the policy version, added
    as ``q_<key>`` fields by :func:`comprehension_form`."""


def comprehension_form(questions: list[tuple[str, str, list[tuple[str, str]]]]
                       ) -> ComprehensionForm:
    """A form for (key, question, choices) of the policy version."""

    class Form(ComprehensionForm):
        pass

    for key, question, options in questions:
        setattr(Form, f"q_{key}", RadioField(question, choices=[
            SelectChoice(v, label) for v, label in options], validate_choice=False))
    return Form()
