"""Helpers for filling in the tool's own forms in tests."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import requests

from tests.support.browser import FormBrowser

_CSRF = re.compile(r'name="(?:[\w]+-)?csrf_token"[^>]*value="([^"]+)"'
                   r'|value="([^"]+)"[^>]*name="(?:[\w]+-)?csrf_token"')

FieldValue = str | Sequence[str]


def csrf(page: requests.Response) -> str:
    match = _CSRF.search(page.text)
    assert match, f"no CSRF token on {page.url}"
    return match.group(1) or match.group(2)


def post_form(browser: FormBrowser, page: requests.Response, fields: Mapping[str, FieldValue],
              action: str | None = None, *,
              files: Mapping[str, tuple[str, bytes, str]] | None = None) -> requests.Response:
    """Submit a form of ``page`` (to ``action`` or the page's own URL) with its CSRF token,
    as the browser would, following what happens afterwards. ``files`` maps a file field to
    (filename, content, content type) and sends the form as multipart/form-data."""
    token = csrf(page)
    data: list[tuple[str, str]] = [("csrf_token", token)]
    # A page with several forms prefixes each one's fields ("decision-reasons") and its
    # token ("decision-csrf_token"), as the browser would send them.
    for prefix in sorted({name.split("-", 1)[0] for name in fields if "-" in name}):
        data.append((f"{prefix}-csrf_token", token))
    for name, value in fields.items():
        if isinstance(value, str):
            data.append((name, value))
        else:
            data.extend((name, v) for v in value)
    target = action or page.url
    # A list of pairs carries repeated names (checkbox groups); requests sends it as is.
    answer = browser.request("POST", target, data=data, initiator=page.url,  # type: ignore[arg-type]
                             files=dict(files) if files else None)
    return browser.follow_all(answer)
