"""Every word the tool shows in its templates goes through Flask-Babel: a template's text
(and its user-facing attributes: ``alt``, ``title``, ``aria-label``, ``placeholder``, a
button's ``value``) holds no letters outside ``{% trans %}`` blocks and ``_()`` calls, and
neither do the words it passes to the shared macros (``cell("Course", ...)`` must be
``cell(_("Course"), ...)``; ``MACRO_WORDS`` names the arguments that are words). Text that
comes from data (the policy's own words, names, dates) arrives through expressions and is
not the template's to translate.

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
NOT_YET: set[str] = set()
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


# The arguments of the shared macros (templates/macros/) that people read: a string literal
# with letters passed to one of them must be wrapped in _() (or ngettext()).
MACRO_WORDS = {
    "tag": {"label"}, "button": {"label", "extra"}, "button_link": {"label", "extra"},
    "post_button": {"label", "extra"}, "summary_list": {"rows", "missing", "label"},
    "summary_row": {"key", "value"}, "data_table": {"caption", "columns", "empty"},
    "cell": {"label", "value"}, "result_count": {"text"}, "pagination": {"label"},
    "confirm_panel": {"title", "confirm_label", "cancel_label"},
    "field": {"error", "hint"}, "choices": {"error", "hint"}, "checkbox": {"error"},
    "radios": {"hint"},
}
# The words of a data_table column given as a mapping ({"label": ..., "href": ...}).
COLUMN_WORDS = {"label"}
MACRO_FILES = ("ui.html", "forms.html", "fieldsets.html")


def _macro_parameters() -> dict[str, list[str]]:
    """Each shared macro's parameter names, in order (to name positional arguments)."""
    found: dict[str, list[str]] = {}
    for name in MACRO_FILES:
        tree = _environment().parse((TEMPLATES / "macros" / name).read_text("utf-8"))
        for macro in tree.find_all(nodes.Macro):
            if macro.name in MACRO_WORDS:
                found[macro.name] = [arg.name for arg in macro.args]
    return found


def _literals(node: nodes.Node) -> list[str]:
    """The string literals with letters an argument shows as they are: not those inside a
    call (``_()`` and ``ngettext()`` translate theirs; another macro's call is checked on its
    own), nor a condition's test."""
    if isinstance(node, nodes.Const):
        return [node.value] if isinstance(node.value, str) and LETTERS.search(node.value) \
            else []
    if isinstance(node, nodes.CondExpr):
        return _literals(node.expr1) + (_literals(node.expr2) if node.expr2 else [])
    if isinstance(node, nodes.List | nodes.Tuple):
        return [text for item in node.items for text in _literals(item)]
    if isinstance(node, nodes.Dict):
        return [text for pair in node.items if isinstance(pair.key, nodes.Const)
                and pair.key.value in COLUMN_WORDS for text in _literals(pair.value)]
    if isinstance(node, nodes.Concat):
        return [text for item in node.nodes for text in _literals(item)]
    if isinstance(node, nodes.Filter) and node.node is not None:
        return _literals(node.node)
    return []


def untranslated_macro_words(name: str) -> list[str]:
    """The words template ``name`` (relative to templates/) passes to the shared macros
    without gettext."""
    return macro_words_in((TEMPLATES / name).read_text("utf-8"))


def macro_words_in(source: str) -> list[str]:
    """The words a template's source passes to the shared macros without gettext, each as
    ``line N: macro(parameter): 'words'``."""
    parameters = _macro_parameters()
    tree = _environment().parse(source)
    found: list[str] = []
    for call in tree.find_all(nodes.Call):
        callee = call.node.name if isinstance(call.node, nodes.Name) else (
            call.node.attr if isinstance(call.node, nodes.Getattr) else None)
        if callee not in MACRO_WORDS or callee not in parameters:
            continue
        names = parameters[callee]
        arguments = [(names[i] if i < len(names) else "", value)
                     for i, value in enumerate(call.args)]
        arguments += [(keyword.key, keyword.value) for keyword in call.kwargs]
        found += [f"line {call.lineno}: {callee}({parameter}): {text!r}"
                  for parameter, value in arguments if parameter in MACRO_WORDS[callee]
                  for text in _literals(value)]
    return found


def _templates() -> list[str]:
    """The tool's templates: not the demo platform's (templates/demo/), which stand in for
    Moodle's own pages."""
    return sorted(str(p.relative_to(TEMPLATES)) for pattern in ("**/*.html", "**/*.txt")
                  for p in TEMPLATES.glob(pattern) if p.parts[len(TEMPLATES.parts)] != "demo")


@pytest.mark.parametrize("name", [n for n in _templates() if n not in NOT_YET])
def test_every_word_in_the_template_is_translatable(name: str) -> None:
    assert untranslated(name) == []


@pytest.mark.parametrize("name", [n for n in _templates()
                                  if n not in NOT_YET and n.endswith(".html")])
def test_every_word_passed_to_a_macro_is_translatable(name: str) -> None:
    assert untranslated_macro_words(name) == []


def test_the_macro_check_finds_unwrapped_words() -> None:
    """The check itself: literal words in positional, keyword, column and conditional
    arguments are found; wrapped ones, codes (a tag's tone) and data are not."""
    source = ('{% from "macros/ui.html" import cell, tag, data_table, post_button %}'
              '{{ cell("Course", x) }}{{ cell(_("Course"), "Yes" if a else _("No")) }}'
              '{{ tag(_("Open"), "warn") }}{{ tag("Stage " ~ n) }}'
              '{% call(r) data_table(_("T"), ["Learner", {"label": "Status", "sort": "up"}], '
              'rows) %}{% endcall %}{{ post_button(_("Go"), url, extra="for " ~ who) }}')
    assert [line.split(": ", 1)[1] for line in macro_words_in(source)] == [
        "cell(label): 'Course'", "cell(value): 'Yes'", "tag(label): 'Stage '",
        "data_table(columns): 'Learner'", "data_table(columns): 'Status'",
        "post_button(extra): 'for '"]


def test_the_list_of_templates_still_to_change_is_current() -> None:
    """A template whose words all go through gettext leaves NOT_YET (the list only shrinks)."""
    clean = {name for name in NOT_YET if (TEMPLATES / name).exists() and not untranslated(name)
             and (not name.endswith(".html") or not untranslated_macro_words(name))}
    assert not clean, sorted(clean)
