"""The tool speaks the language of the launch: the ``locale`` of the launch presentation
claim picks the catalogue (``en-GB`` and ``en_US`` are English), and a locale without one
falls back to English."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask import Flask

from lti_tool.extensions import babel
from lti_tool.i18n import best_locale, shipped_locales
from tests.support.browser import FormBrowser, launch
from tests.support.pages import text

HEADING = "Set up this activity"
WELSH = "Gosod y gweithgaredd hwn"


@pytest.mark.parametrize(("wanted", "chosen"), [
    ("en", "en"), ("en-GB", "en"), ("en_US", "en"), ("EN-gb", "en"), ("", "en"), (None, "en"),
    ("fr", "en"), ("zz-Latn-ZZ", "en"), ("cy", "cy"), ("cy-GB", "cy"), ("cy_GB", "cy"),
])
def test_the_launch_locale_is_matched_to_a_shipped_catalogue(wanted: str | None,
                                                              chosen: str) -> None:
    assert best_locale(wanted, ["cy", "en"]) == chosen


def test_english_is_shipped(app: Flask) -> None:
    assert "en" in shipped_locales(app)
    assert (Path(app.root_path) / "translations" / "en" / "LC_MESSAGES" / "messages.mo").is_file()


@pytest.fixture
def welsh(app: Flask, tmp_path: Path) -> Any:
    """A catalogue for Welsh with one message, beside the shipped ones."""
    folder = tmp_path / "translations" / "cy" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    catalog = Catalog(locale="cy")
    catalog.add(HEADING, WELSH)
    with open(folder / "messages.mo", "wb") as out:
        write_mo(out, catalog)
    config = app.extensions["babel"]
    directories = config.translation_directories
    config.translation_directories = [str(tmp_path / "translations"), *directories]
    app.extensions["aiu_locales"] = shipped_locales(app)
    yield
    config.translation_directories = directories
    app.extensions["aiu_locales"] = shipped_locales(app)
    for key in [key for key in babel.domain_instance.cache if key[0] == "cy"]:
        del babel.domain_instance.cache[key]


def _settings_page(moodle: Any, lang: str) -> str:
    """The first page a teacher sees in an activity not set up yet, launched with ``lang``."""
    moodle.user("marker1").lang = lang
    seeded = min((a for a in moodle.activities.values() if a.course_id == 2),
                 key=lambda a: a.id)
    with FormBrowser() as browser:
        page = launch(browser, moodle, "marker1", seeded.id)
        assert page.status_code == 200, page.text
        assert "/settings" in page.url, page.url
        return text(page)


@pytest.mark.parametrize("lang", ["en-GB", "en_US", "fr", "xx"])
def test_a_launch_renders_in_english_without_a_catalogue_for_its_locale(
        app: Flask, registered: Any, moodle: Any, welsh: Any, lang: str) -> None:
    shown = _settings_page(moodle, lang)
    assert HEADING in shown and WELSH not in shown


def test_a_launch_in_a_locale_with_a_catalogue_renders_in_it(
        app: Flask, registered: Any, moodle: Any, welsh: Any) -> None:
    shown = _settings_page(moodle, "cy-GB")
    assert WELSH in shown and HEADING not in shown
    # Words the catalogue does not hold stay English.
    assert "Save settings" in shown


def test_the_locale_is_chosen_once_per_request(app: Flask, monkeypatch: Any) -> None:
    """Flask-Babel keeps the locale it chose for the request (in ``g``): the selector (which
    reads the launch from the session) runs once however many words the request translates."""
    from flask import render_template_string
    from flask_babel import gettext

    config = app.extensions["babel"]
    chosen: list[str] = []
    select = config.locale_selector

    def counted() -> str:
        chosen.append(select())
        return chosen[-1]

    monkeypatch.setattr(config, "locale_selector", counted)
    with app.test_request_context("/"):
        words = [gettext("Page not found") for _ in range(20)]
        words.append(render_template_string('{{ _("Pages") }} {{ _("Cancel") }}'))
    assert words[0] == "Page not found" and words[-1] == "Pages Cancel"
    assert chosen == ["en"]
