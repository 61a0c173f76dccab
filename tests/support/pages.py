"""Helpers for tests that fill in the tool's own forms through ``FormBrowser``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import requests
import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.platforms.models import Platform
from tests.support.browser import FormBrowser, _FormParser

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
    as the browser would, following what happens afterwards. Unlike :func:`fill`, only the
    given fields are sent (unticked boxes are absent), and a list value repeats the name.
    ``files`` maps a file field to
    (filename, content, content type) and sends the form as multipart/form-data."""
    token = csrf(page)
    target = action or page.url
    data: list[tuple[str, str]] = [("csrf_token", token)]
    key = submission_key(page, target)
    if key:
        data.append(("submission_key", key))
    # A page with several forms prefixes each one's fields ("decision-reasons") and its
    # token ("decision-csrf_token"), as the browser would send them.
    for prefix in sorted({name.split("-", 1)[0] for name in fields if "-" in name}):
        data.append((f"{prefix}-csrf_token", token))
    for name, value in fields.items():
        if isinstance(value, str):
            data.append((name, value))
        else:
            data.extend((name, v) for v in value)
    # A list of pairs carries repeated names (checkbox groups); requests sends it as is.
    answer = browser.request("POST", target, data=data, initiator=page.url,  # type: ignore[arg-type]
                             files=dict(files) if files else None)
    return browser.follow_all(answer)


def submission_key(page: requests.Response, target: str) -> str | None:
    """The one-time key of the page's form posting to ``target`` (or of its first keyed form:
    a key is not bound to one action, so a post aimed elsewhere is refused by the access
    checks, not for want of a key)."""
    parser = _FormParser()
    parser.feed(page.text)
    parser.close()
    keyed = [f for f in parser.forms if "submission_key" in f["fields"]]
    for found in keyed:
        if urljoin(page.url, found["action"] or page.url) == target:
            return str(found["fields"]["submission_key"])
    return str(keyed[0]["fields"]["submission_key"]) if keyed else None


def form(page: requests.Response, action_contains: str) -> tuple[str, dict[str, str]]:
    """(absolute action URL, current field values) of the page's form whose action contains
    ``action_contains`` (hidden fields such as the CSRF token and version included)."""
    parser = _FormParser()
    parser.feed(page.text)
    parser.close()
    for found in parser.forms:
        if action_contains in found["action"]:
            return urljoin(page.url, found["action"]), dict(found["fields"])
    raise AssertionError(f"no form posting to *{action_contains}* on {page.url} "
                         f"(status {page.status_code})")


def fill(browser: FormBrowser, page: requests.Response, action_contains: str,
         values: Mapping[str, str], *, follow: bool = True) -> requests.Response:
    """Fill in and send a form of ``page`` as a person would. HTTP redirects are always
    followed; ``follow`` also follows auto-submitting pages (the ``FormBrowser.submit``
    behaviour), which the tool's own pages never are."""
    action, fields = form(page, action_contains)
    fields.update(values)
    if follow:
        return browser.submit(action, fields, initiator=page.url)
    return browser.request("POST", action, data=fields, initiator=page.url)


def text(page: requests.Response) -> str:
    """The page's visible text, whitespace collapsed (for plain-English assertions)."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page.text, flags=re.S)
    body = re.sub(r"</?(strong|em|b|i|span|a|code)\b[^>]*>", "", body)  # inline: no gap
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def platform_id(app: Flask) -> int:
    with app.app_context():
        found = db.session.scalar(sa.select(Platform.id).order_by(Platform.id))
        assert found is not None
        return int(found)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``condition`` until it holds (True) or fail the test after ``timeout`` seconds.

    Work done after a response (outbox deliveries, email) is quick on an idle machine but can
    take seconds on a busy 2-core one: the deadline is generous because passing costs nothing.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    if condition():
        return True
    raise AssertionError(f"still not true after {timeout:.0f} s: {_describe(condition)}")


def _describe(condition: Callable[[], object]) -> str:
    code = getattr(condition, "__code__", None)
    if code is None:
        return repr(condition)
    return f"the condition at {code.co_filename}:{code.co_firstlineno}"


def wait_until_serving(url: str, what: str, *, timeout: float = 60.0,
                       log: Path | None = None) -> None:
    """Wait for ``url`` to answer 200, retrying on any request error (refused, reset, read
    timeout: a busy machine can accept a connection seconds before a new server answers).
    On giving up, the failure names ``what`` was awaited, the last error and ``log``'s tail."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            answer = requests.get(url, timeout=10)
            if answer.status_code == 200:
                return
            last = f"HTTP {answer.status_code}"
        except requests.RequestException as error:
            last = f"{type(error).__name__}: {error}"
        time.sleep(0.2)
    tail = log.read_text("utf-8", errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"{what} did not answer {url} within {timeout:.0f} s ({last})\n{tail}")


_CONFIRM_FORM = re.compile(r'<section class="confirm-panel".*?<form method="post" action="([^"]*)"'
                           r'(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def confirmation_fields(page: requests.Response) -> tuple[str, list[tuple[str, str]]]:
    """(absolute action URL, fields in order, repeated names kept) of the page's confirmation
    form (``confirm_panel`` of ``macros/ui.html``); fails if the page asks for none."""
    match = _CONFIRM_FORM.search(page.text)
    assert match, f"no confirmation form on {page.url} (status {page.status_code})"
    action = urljoin(page.url, unescape(match.group(1)))
    return action, [(name, unescape(value)) for name, value in _HIDDEN.findall(match.group(2))]


def confirm(browser: FormBrowser, page: requests.Response) -> requests.Response:
    """Press the confirm button of a confirmation page, following what happens afterwards."""
    action, fields = confirmation_fields(page)
    answer = browser.request("POST", action, data=fields,  # type: ignore[arg-type]
                             initiator=page.url)
    return browser.follow_all(answer)


def confirm_if_asked(browser: FormBrowser, page: requests.Response) -> requests.Response:
    """``page`` confirmed when it is a confirmation page, else ``page`` itself (a form shown
    again with its errors, a refusal)."""
    return confirm(browser, page) if 'class="confirm-panel"' in page.text else page
