"""The shipped catalogues are current: every message that extraction finds (babel.cfg, the
commands in the README's "Translating") is in the template and in each catalogue, and each
compiled ``.mo`` holds what its ``.po`` says."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "lti_tool" / "translations"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None,
            "lazy_ngettext": (1, 2), "pgettext": ((1, "c"), 2)}


def _key(message_id: str | tuple[str, ...], context: str | None) -> tuple[str | None, str]:
    return context, message_id if isinstance(message_id, str) else message_id[0]


@pytest.fixture(scope="module")
def extracted() -> set[tuple[str | None, str]]:
    with open(ROOT / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    return {_key(found[2], found[4]) for found in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS)}


def _catalogues() -> list[Path]:
    return sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))


def test_the_template_holds_every_message(extracted: set[tuple[str | None, str]]) -> None:
    with open(TRANSLATIONS / "messages.pot", "rb") as pot:
        held = {_key(m.id, m.context) for m in read_po(pot) if m.id}
    assert extracted - held == set(), "run pybabel extract (README, Translating)"


@pytest.mark.parametrize("po", _catalogues(), ids=lambda p: p.parts[-3])
def test_each_catalogue_holds_every_message_and_is_compiled(
        po: Path, extracted: set[tuple[str | None, str]]) -> None:
    with open(po, "rb") as source:
        catalogue = read_po(source)
    held = {_key(m.id, m.context) for m in catalogue if m.id}
    assert extracted - held == set(), "run pybabel update (README, Translating)"
    with open(po.with_suffix(".mo"), "rb") as compiled:
        mo = read_mo(compiled)
    # (An untranslated plural is compiled as its English forms: no change either way.)
    translated = {_entry(m) for m in catalogue if m.id and _filled(m.string) and not m.fuzzy}
    compiled = {_entry(m) for m in mo if m.id and _filled(m.string)}
    assert {e for e in compiled if e[1] != e[2]} == {e for e in translated if e[1] != e[2]}, (
        "run pybabel compile (README, Translating)")


def _filled(string: object) -> bool:
    return any(string) if isinstance(string, list | tuple) else bool(string)


def _entry(message: Message) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    def parts(value: object) -> tuple[str, ...]:
        return tuple(value) if isinstance(value, list | tuple) else (str(value),)
    return message.context, parts(message.id), parts(message.string)


def test_english_is_shipped() -> None:
    assert "en" in [p.parts[-3] for p in _catalogues()]
