"""The tool's internal vocabulary (state names, outcome codes, error references), collected
from the code itself, and a scan that fails when one is shown to people as text."""

from __future__ import annotations

import csv
import importlib
import io
import pkgutil
import re
from functools import cache
from html import unescape
from pathlib import Path

import lti_tool

_CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+|[a-z]{4,}")
_REASON = re.compile(r"""(?:Error|Refused|Denied|Changed|Action)\(\s*["']([a-z][a-z0-9_]+)["']""")
# Words that are codes inside the tool but ordinary English in a sentence: they count as
# codes only as a whole CSV cell or a whole table cell.
_SKIP_MODULES = ("lti_tool.demo", "lti_tool.migrations")


@cache
def codes() -> frozenset[str]:
    """Lower-case constants of every model and service module (states, outcomes, kinds,
    use keys of the policy) and the reference of every refusal the code raises."""
    found: set[str] = set()
    for info in pkgutil.walk_packages(lti_tool.__path__, "lti_tool."):
        if info.name.startswith(_SKIP_MODULES):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if name.isupper() and isinstance(value, str) and _CODE.fullmatch(value):
                found.add(value)
            elif name.isupper() and isinstance(value, dict):
                found.update(k for k in value if isinstance(k, str) and _CODE.fullmatch(k))
    root = Path(lti_tool.__file__).parent
    for path in root.rglob("*.py"):
        if not str(path.relative_to(root)).startswith(("demo", "migrations")):
            found.update(_REASON.findall(path.read_text("utf-8")))
    policy = (root.parent / "config" / "policy" / "aiu-1.0.json").read_text("utf-8")
    found.update(re.findall(r'"key":\s*"([a-z_]+)"', policy))
    return frozenset(found)


def snake_codes() -> frozenset[str]:
    """The codes no sentence would contain (with an underscore)."""
    return frozenset(c for c in codes() if "_" in c)


def visible_text(html: str) -> str:
    """The page's text as people see it, without scripts, styles, hidden inputs, attribute
    values and the small-print support references (``<span class="reference">``)."""
    body = re.sub(r"<(script|style|head)[^>]*>.*?</\1>", " ", html, flags=re.S)
    body = re.sub(r'<span class="reference">[^<]*</span>', " ", body)
    return unescape(re.sub(r"<[^>]+>", " ", body))


def codes_in_html(html: str) -> set[str]:
    """Internal codes shown as text: snake_case codes anywhere in the text, and any code as
    the whole content of a table cell or summary-list value."""
    text = visible_text(html)
    shown = {c for c in snake_codes() if re.search(rf"(?<![\w/.-]){re.escape(c)}(?![\w/-])", text)}
    for cell in re.findall(r"<(?:td|dd)[^>]*>\s*([^<]*?)\s*</(?:td|dd)>", html):
        if unescape(cell) in codes():
            shown.add(unescape(cell))
    return shown


def codes_in_csv(content: str) -> set[str]:
    """Internal codes that are the whole value of a CSV cell (a header row included)."""
    return {cell for row in csv.reader(io.StringIO(content)) for cell in row if cell in codes()}
