"""Forms for placement settings and declarations (CSRF-protected; the rules themselves live
in :mod:`lti_tool.declarations.service` so they hold whatever the form sends)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
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
    title = StringField("Title of the declaration activity",
                        validators=[DataRequired("Enter a title."), Length(max=200)])
    assignment_name = StringField(
        "The Moodle assignment it covers",
        validators=[DataRequired("Enter the name of the assignment."), Length(max=200)],
        description="As it appears in the course, for example 'Unit 5CO01 assignment'.")
    qualification = RadioField("Qualification",
                               choices=[SelectChoice("CIPD", "CIPD"), SelectChoice("CMI", "CMI")],
                               validators=[InputRequired("Choose CIPD or CMI.")])
    permitted_uses = MultiCheckboxField(
        "Permitted uses of AI for this assignment",
        validators=[DataRequired("Choose at least one permitted use.")],
        description="Learners may only declare the uses you leave ticked.")
    guidance = TextAreaField("Extra guidance for this assignment (optional)",
                             validators=[Optional(), Length(max=2000)])

    def set_policy(self, policy: Policy) -> None:
        self.permitted_uses.choices = [SelectChoice(u.key, u.text) for u in policy.permitted_uses]
        if not self.is_submitted() and not self.permitted_uses.data:
            self.permitted_uses.data = [u.key for u in policy.permitted_uses]


class DeclarationForm(FlaskForm):
    uses_ai = RadioField(
        "Have you used, or will you use, AI before you start this assignment?",
        choices=[SelectChoice("yes", "Yes, before I start"), SelectChoice("no", "No")],
        validators=[InputRequired("Choose Yes or No.")])
    permitted_uses = MultiCheckboxField("What for?", validate_choice=False)
    ai_tools = TextAreaField("Which AI tools?", validators=[Optional(), Length(max=2000)],
                             description="One per line, for example ChatGPT or Microsoft "
                                         "Copilot.")
    authorisations = MultiCheckboxField("AI tools you are authorised to use",
                                        validate_choice=False)
    confirmed_no_personal_data = BooleanField(
        "I have not entered, and will not enter, company or personal data into personal or "
        "public AI tools.")
    confirmed_no_ai_after_start = BooleanField(
        "I will not use AI once I start the assignment, including to check spelling and "
        "grammar, check my work meets the assessment criteria, compile references or "
        "citations, or reduce the word count.")
    confirmed_own_work = BooleanField("The work I submit will be my own.")
    signature = StringField("Type your full name to sign",
                            validators=[Optional(), Length(max=200)])

    def set_choices(self, uses: list[tuple[str, str]],
                    authorisations: list[tuple[str, str]]) -> None:
        self.permitted_uses.choices = [SelectChoice(v, label) for v, label in uses]
        self.authorisations.choices = [SelectChoice(v, label) for v, label in authorisations]
