"""Template helpers behind the shared screen components (``templates/macros/ui.html`` and
``macros/forms.html``): links that keep the page's query arguments, page number runs, and
where each form error's summary link points."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flask import Flask, request, url_for
from wtforms import RadioField, SelectMultipleField
from wtforms.widgets import ListWidget

from lti_tool.formfields import RadioGroup


def url_with(**changes: Any) -> str:
    """The current page's URL with ``changes`` applied to its query arguments (a value of
    None removes the argument); every other argument, repeated ones included, is kept."""
    args: dict[str, Any] = request.args.to_dict(flat=False)
    for name, value in changes.items():
        if value is None:
            args.pop(name, None)
        else:
            args[name] = [str(value)]
    return url_for(str(request.endpoint), **(request.view_args or {}), **args)


def page_numbers(page: int, pages: int, *, around: int = 2) -> Iterator[int | None]:
    """The page numbers a pagination bar shows: the first, the last and ``around`` either side
    of ``page``; None where numbers are left out."""
    shown = {1, pages, *range(max(1, page - around), min(pages, page + around) + 1)}
    previous = 0
    for number in sorted(shown):
        if number - previous > 1:
            yield None
        yield number
        previous = number


def first_control_id(field: Any) -> str:
    """The id of the first focusable control of a WTForms field (its first option for a
    radio or checkbox group)."""
    # Groups of inputs ("<id>-0", "<id>-1"...): the summary links to the first input, not to
    # the group's wrapper (which cannot take focus). A multiple select is one control.
    grouped = isinstance(field, RadioField | RadioGroup) or (
        isinstance(field, SelectMultipleField) and isinstance(field.widget, ListWidget))
    if grouped:
        return f"{field.id}-0"
    return str(field.id)


def error_targets(form: Any) -> dict[str, str]:
    """Error summary entries of a form: the first control's id → the field's first error."""
    # A message is a string or a lazily translated one (lazy_gettext); a form field's
    # errors are a mapping instead.
    return {first_control_id(form[name]): str(messages[0])
            for name, messages in form.errors.items()
            if name in form and messages and not isinstance(messages[0], Mapping | list)}


def summary_targets(errors: Mapping[str, str], form: Any = None) -> dict[str, str]:
    """``errors`` keyed by field id (what views pass) re-keyed to each field's first control,
    when the form (or a list of the page's forms) is known; unknown ids are kept as they are."""
    if form is None:
        return dict(errors)
    forms = form if isinstance(form, list | tuple) else [form]
    by_id = {f.id: f for each in forms for f in each}
    return {(first_control_id(by_id[key]) if key in by_id else key): message
            for key, message in errors.items()}


def init_app(app: Flask) -> None:
    app.add_template_global(url_with, "url_with")
    app.add_template_global(page_numbers, "page_numbers")
    app.add_template_global(error_targets, "error_targets")
    app.add_template_global(summary_targets, "summary_targets")
