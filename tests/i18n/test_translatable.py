"""Every word the tool shows in its templates goes through Flask-Babel: a template's text
(and its user-facing attributes: ``alt``, ``title``, ``aria-label``, ``placeholder``, a
button's ``value``) holds no letters outside ``{% trans %}`` blocks and ``_()`` calls. Text
that comes from data (the policy's own words, names, dates) arrives through expressions and
is not the template's to translate.

The templates in ``NOT_YET`` are being rewritten on another branch at the same time; the
list only shrinks."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import Environment, nodes

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
NOT_YET = {
    "incidents/detail.html", "incidents/answer.html", "staff/analytics.html",
    "email/incident_question.txt", "email/incident_question.html",
    "email/incident_decision.txt", "email/incident_decision.html",
}
# Stands for whatever an expression or a translated message puts in the page.
HOLE = "\ufffc"
LETTERS = re.compile(r"[^\W\d_]")
TEXT_ATTRIBUTES = {"alt", "title", "aria-label", "placeholder", "aria-description"}
# Elements whose content is not prose for people to read.
NOT_TEXT = {"script", "style"}
# An example address in a placeholder is not a word.
URL = re.compile(r"^[a-z]+://\S*$")


def _environment() -> Environment:
    return Environment(extensions=["jinja2.ext.i18n", "jinja2.ext.do"])  # noqa: S701 - parse only


def _skeleton(node: nodes.Node, out: list[str]) -> None:
    """The template's literal text in order, every expression a hole."""
    if isinstance(node, nodes.Output):
        for child in node.nodes:
            out.append(child.data if isinstance(child, nodes.TemplateData) else HOLE)
        return
    for child in node.iter_child_nodes():
        if isinstance(child, nodes.Stmt | nodes.Template | nodes.Output | nodes.Helper):
            _skeleton(child, out)


class _Words(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in NOT_TEXT:
            self._skip += 1
        named = dict(attrs)
        for name, value in attrs:
            user_facing = name in TEXT_ATTRIBUTES or (name == "value" and (
                tag == "button" or named.get("type") in {"submit", "button", "reset"}))
            if (user_facing and value and LETTERS.search(value.replace(HOLE, ""))
                    and not URL.match(value)):
                self.found.append(f"<{tag} {name}={value!r}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in NOT_TEXT:
            self._skip -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in NOT_TEXT and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and LETTERS.search(data.replace(HOLE, "")):
            self.found.append(" ".join(data.split()))


def untranslated(name: str) -> list[str]:
    """The words in template ``name`` (relative to templates/) that do not go through
    gettext."""
    source = (TEMPLATES / name).read_text("utf-8")
    out: list[str] = []
    _skeleton(_environment().parse(source), out)
    text = "".join(out)
    if name.endswith(".txt"):
        return [" ".join(line.split()) for line in text.splitlines()
                if LETTERS.search(line.replace(HOLE, ""))]
    # A tag whose name is an expression (<{{ tagname }} ...>) is still a tag.
    text = text.replace("<" + HOLE, "<x" + HOLE).replace("</" + HOLE, "</x" + HOLE)
    words = _Words()
    words.feed(text)
    words.close()
    return words.found


def _templates() -> list[str]:
    """The tool's templates: not the demo platform's (templates/demo/), which stand in for
    Moodle's own pages."""
    return sorted(str(p.relative_to(TEMPLATES)) for pattern in ("**/*.html", "**/*.txt")
                  for p in TEMPLATES.glob(pattern) if p.parts[len(TEMPLATES.parts)] != "demo")


@pytest.mark.parametrize("name", [n for n in _templates() if n not in NOT_YET])
def test_every_word_in_the_template_is_translatable(name: str) -> None:
    assert untranslated(name) == []


def test_the_list_of_templates_still_to_change_is_current() -> None:
    """A template whose words all go through gettext leaves NOT_YET (the list only shrinks)."""
    clean = {name for name in NOT_YET if (TEMPLATES / name).exists() and not untranslated(name)}
    assert not clean, sorted(clean)
