"""The shared screen components (templates/macros/ui.html, macros/forms.html and
lti_tool/screens.py) render what the screens rely on."""

from __future__ import annotations

import re

from flask import Flask, render_template_string
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from lti_tool.declarations.forms import MultiCheckboxField
from lti_tool.screens import page_numbers

UI = ('{% from "macros/ui.html" import tag, button, button_link, post_button, summary_list, '
      'summary_row, data_table, cell, pagination, result_count %}')
FORMS = '{% from "macros/forms.html" import error_summary, field, choices %}'


class ExampleForm(FlaskForm):
    class Meta:
        csrf = False

    source = RadioField("Where from?", choices=[SelectChoice("a", "A"), SelectChoice("b", "B")],
                        validators=[InputRequired("Choose where from.")])
    checks = MultiCheckboxField("Checks", choices=[SelectChoice("x", "X"), SelectChoice("y", "Y")],
                                validators=[InputRequired("Choose a check.")])
    note = StringField("Note", validators=[InputRequired("Write a note.")])


def test_a_data_table_labels_every_cell_for_its_card(app: Flask) -> None:
    with app.test_request_context("/"):
        html = render_template_string(UI + """
        {% call(r) data_table("People", ["Name", {"label": "Age", "numeric": True},
                                         {"label": "Actions", "hidden": True}], rows) %}
          {{ cell("Name", r.name, header=True) }}{{ cell("Age", r.age, numeric=True) }}
          {% call cell("") %}{{ button("Remove", kind="danger", extra=r.name) }}{% endcall %}
        {% endcall %}
        {% call(r) data_table("Nobody", ["Name"], [], empty="No one yet.") %}{% endcall %}
        """, rows=[{"name": "Ada", "age": 36}])
    assert '<table class="data-table cards">' in html and '<div class="table-wrap">' in html
    assert '<th scope="row">Ada</th>' in html
    assert '<td data-label="Age" class="numeric">36</td>' in html
    assert '<span class="visually-hidden">Actions</span>' in html
    assert "data-label=\"\"" not in html  # the action cell has no label on the card
    assert '<td colspan="1" class="empty">No one yet.</td>' in html


def test_tags_buttons_and_summary_lists(app: Flask) -> None:
    with app.test_request_context("/"):
        html = render_template_string(UI + """
        {{ tag("Declared", "ok") }}{{ button_link("Analytics", "/a") }}
        {{ post_button("Send again", "/retry", fields={"id": 3}) }}
        {{ summary_list([("Policy", "AIU v1.0"), ("Signed", none)]) }}
        {% call summary_list() %}{% call summary_row("Tools") %}<ul><li>X</li></ul>
        {%- endcall %}{% endcall %}
        """)
    assert '<span class="tag tag-ok">Declared</span>' in html
    assert '<a class="button button-secondary" href="/a">Analytics</a>' in html
    assert 'name="csrf_token"' in html and '<input type="hidden" name="id" value="3">' in html
    assert "<dt>Signed</dt><dd>Not given</dd>" in html
    assert "<dt>Tools</dt><dd><ul><li>X</li></ul></dd>" in html


def test_pagination_keeps_every_other_query_argument(app: Flask) -> None:
    with app.test_request_context("/?q=ada&sort=name&declaration=missing&page=3"):
        from flask import request

        request.url_rule = app.url_map.bind("localhost").match("/", return_rule=True)[0]  # type: ignore[assignment]
        request.view_args = {}
        html = render_template_string(UI + "{{ pagination(3, 9) }}{{ result_count('12 shown') }}")
    links = re.findall(r'href="([^"]+)"', html)
    assert links and all("q=ada" in link and "sort=name" in link and "declaration=missing"
                         in link for link in links)
    assert any("page=2" in link for link in links) and any("page=4" in link for link in links)
    assert 'aria-current="page"' in html and "data-announce" in html
    assert list(page_numbers(5, 20)) == [1, None, 3, 4, 5, 6, 7, None, 20]
    assert list(page_numbers(1, 2)) == [1, 2]


def test_error_summary_links_go_to_each_fields_first_control(app: Flask) -> None:
    with app.test_request_context("/", method="POST", data={}):
        form = ExampleForm()
        assert not form.validate()
        by_form = render_template_string(FORMS + "{{ error_summary(form) }}", form=form)
        errors = {form[name].id: messages[0] for name, messages in form.errors.items()}
        by_ids = render_template_string(FORMS + "{{ error_summary(errors, form) }}"
                                        "{{ choices(form.checks) }}{{ field(form.note) }}",
                                        form=form, errors=errors)
    for html in (by_form, by_ids):
        assert 'href="#source-0"' in html and 'href="#checks-0"' in html
        assert 'href="#note"' in html
    assert 'aria-describedby=""' not in by_ids
    checkboxes = re.findall(r"<input[^>]*type=\"checkbox\"[^>]*>", by_ids)
    assert checkboxes and not any("required" in box for box in checkboxes)  # as a group


def test_fields_without_hint_or_error_have_no_empty_describedby(app: Flask) -> None:
    with app.test_request_context("/"):
        form = ExampleForm()
        html = render_template_string(FORMS + "{{ field(form.note) }}{{ choices(form.source) }}",
                                      form=form)
    assert "aria-describedby" not in html and "aria-invalid" not in html
