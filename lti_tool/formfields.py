"""Form fields shared by several blueprints."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext
from wtforms import StringField
from wtforms.validators import StopValidation


class RadioGroup(StringField):
    """One choice from ``options`` ((value, label) pairs), rendered as a fieldset of radio
    buttons by ``macros/fieldsets.html``; anything else is refused with ``message``.

    A plain string field underneath, so the options can change per request (set
    ``field.options``) and no choice shape of a particular WTForms version is relied on.
    """

    def __init__(self, label: str | None = None, validators: Any = None, *,
                 options: list[tuple[str, str]] | None = None,
                 message: str | None = None, **kwargs: Any) -> None:
        super().__init__(label, validators, **kwargs)
        self.options = list(options or [])
        self.message = message or lazy_gettext("Choose one of the options.")

    def pre_validate(self, form: Any) -> None:
        if self.data not in {value for value, _ in self.options}:
            raise StopValidation(self.message)
