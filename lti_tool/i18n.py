"""The tool's own words go through Flask-Babel. The locale is the one the platform sent with
the launch the page was opened from (the ``locale`` of the LTI launch presentation claim),
matched to the catalogues the tool ships; English when there is no launch (emails, the
public pages, a launch that failed) or no catalogue for it.

Catalogues live in ``lti_tool/translations/<locale>/LC_MESSAGES/`` (see the README,
"Translating"); the compiled ``.mo`` files are committed beside the ``.po`` they come from."""

from __future__ import annotations

import os

from babel.core import negotiate_locale
from flask import Flask, current_app, has_request_context

from lti_tool.extensions import babel

DEFAULT_LOCALE = "en"
_LOCALES_KEY = "aiu_locales"


def init_app(app: Flask) -> None:
    babel.init_app(app, default_locale=DEFAULT_LOCALE, locale_selector=select_locale)
    app.extensions[_LOCALES_KEY] = shipped_locales(app)


def shipped_locales(app: Flask) -> list[str]:
    """The locales with a compiled catalogue, English always among them."""
    found = {DEFAULT_LOCALE}
    for folder in app.extensions["babel"].translation_directories:
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            messages = os.path.join(folder, name, "LC_MESSAGES", "messages.mo")
            if os.path.isfile(messages):
                found.add(name)
    return sorted(found)


def best_locale(wanted: str | None, available: list[str]) -> str:
    """The shipped locale for a platform's locale tag (``en-GB``, ``en_US``, ``fr``...):
    the tag itself, else its language, else English."""
    tag = (wanted or "").strip().replace("-", "_")
    if not tag:
        return DEFAULT_LOCALE
    found = negotiate_locale([tag], available, sep="_")
    spelled = {name.lower(): name for name in available}
    return spelled.get(found.lower(), DEFAULT_LOCALE) if found else DEFAULT_LOCALE


def select_locale() -> str:
    """Flask-Babel's locale selector: the current launch's locale, if a catalogue has it."""
    if not has_request_context():
        return DEFAULT_LOCALE
    from lti_tool.people.access import current_launch

    launch = current_launch()
    return best_locale(launch.locale if launch else None,
                       current_app.extensions.get(_LOCALES_KEY, [DEFAULT_LOCALE]))
