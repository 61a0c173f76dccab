"""Fixtures and steps for the AI-tool request flows, all through real launches."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask

from lti_tool.extensions import db
from lti_tool.roles import service as roles
from lti_tool.roles.models import ALS
from tests.conftest import free_port
from tests.support.browser import FormBrowser
from tests.support.pages import confirm_if_asked, fill, platform_id

A_REQUEST = {
    "tool_name": "Microsoft Copilot",
    "purpose": "To find recommendations for wider reading before I start.",
    "reason": "accessibility",
    "reason_detail": "I have dyslexia and an agreed reasonable adjustment.",
    "scope": "course",
    "supporting_detail": "Support plan reference SP-12.",
}
AN_APPROVAL = {
    "outcome": "approved",
    "conditions": "Only to plan the layout, before you start. No personal data.",
    "scope": "course",
    "expires_on": "2099-07-31",
}


@pytest.fixture(autouse=True)
def _mail_nowhere(app: Flask) -> None:
    # Emails go to a closed port unless the test starts the `smtp` server (which overrides
    # this), so no test ever reaches a real mail server by accident.
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_TIMEOUT=1.0)


@pytest.fixture
def grant_als(app: Flask, registered: Any) -> Callable[..., None]:
    """Make the given Moodle users (by user id) ALS members, as the CLI would."""

    def grant(*subs: str) -> None:
        with app.app_context():
            for sub in subs:
                roles.grant(platform_id(app), ALS, actor="test", sub=sub)
            db.session.commit()

    return grant


@pytest.fixture
def second_browser() -> Iterator[FormBrowser]:
    with FormBrowser() as other:
        yield other


def base(app: Flask) -> str:
    return str(app.config["BASE_URL"])


def ask(browser: FormBrowser, app: Flask, **changes: str) -> requests.Response:
    """The launched learner fills in and sends the request form; returns the final page."""
    page = browser.open(base(app) + "/requests/new")
    assert page.status_code == 200, page.text
    return fill(browser, page, "/requests/new", {**A_REQUEST, **changes})


def request_id(page: requests.Response) -> int:
    match = re.search(r"/requests/(\d+)", page.url)
    assert match, page.url
    return int(match.group(1))


def als_page(browser: FormBrowser, app: Flask, rid: int) -> requests.Response:
    page = browser.open(f"{base(app)}/als/requests/{rid}")
    assert page.status_code == 200, page.text
    return page


def decide(browser: FormBrowser, app: Flask, rid: int, values: dict[str, str], *,
           page: requests.Response | None = None, follow: bool = True) -> requests.Response:
    """An ALS member records a decision from the request page (``page`` if already open)
    and confirms it (with ``follow=False``: the answer to the first post, unconfirmed)."""
    page = page or als_page(browser, app, rid)
    asked = fill(browser, page, f"/als/requests/{rid}/decision", values, follow=follow)
    return confirm_if_asked(browser, asked) if follow else asked
