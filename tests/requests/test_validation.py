"""Every validation error is shown next to its field and in the summary, with nothing
written."""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.conftest import row_counts
from tests.requests.conftest import A_REQUEST, AN_APPROVAL, als_page, ask, base, request_id
from tests.support.browser import FormBrowser, launch
from tests.support.pages import fill, form, text

REQUEST_ERRORS = [
    ({"tool_name": ""}, "Name the AI tool, for example Microsoft Copilot."),
    ({"tool_name": "x" * 201}, "Keep this under 200 characters."),
    ({"purpose": "  "}, "Say what you want to use the AI tool for."),
    ({"purpose": "x" * 2001}, "Keep this under 2000 characters."),
    ({"reason": None}, "Choose why you need the AI tool."),
    ({"reason": "because"}, "Choose why you need the AI tool."),
    ({"reason": "other", "reason_detail": ""},
     "Tell us your reason, as you chose 'Another reason'."),
    ({"scope": None}, "Choose where you want to use the AI tool."),
    ({"scope": "everywhere"}, "Choose where you want to use the AI tool."),
    ({"supporting_detail": "x" * 4001}, "Keep this under 4000 characters."),
]

DECISION_ERRORS = [
    ({"outcome": None}, "Choose a decision."),
    ({"outcome": "approved", "conditions": ""}, "Write the conditions the learner must keep to."),
    ({"outcome": "approved", "scope": None}, "Choose where the authorisation applies."),
    ({"outcome": "approved", "expires_on": ""}, "Enter the expiry date, for example 2027-07-31."),
    ({"outcome": "approved", "expires_on": "31/07/2099"},
     "Enter the expiry date, for example 2027-07-31."),
    ({"outcome": "approved", "expires_on": "2001-01-01"}, "The expiry date must be in the future."),
    ({"outcome": "declined", "reason": ""}, "Give the reason for the decision."),
    ({"outcome": "more_info", "question": ""}, "Write your question for the learner."),
]


def _apply(fields: dict[str, str], changes: dict[str, Any]) -> dict[str, str]:
    out = dict(fields)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def test_request_form_errors_write_nothing(app: Flask, registered: Any, moodle: Any,
                                           browser: FormBrowser) -> None:
    launch(browser, moodle, "learner1")
    page = browser.open(base(app) + "/requests/new")
    action, fields = form(page, "/requests/new")
    before = row_counts(app)
    for changes, message in REQUEST_ERRORS:
        answer = browser.request("POST", action, data=_apply({**fields, **A_REQUEST}, changes),
                                 initiator=page.url)
        assert answer.status_code == 400, changes
        assert "There is a problem" in text(answer), changes
        assert text(answer).count(message) == 2, (changes, message)  # summary and field
        assert 'aria-invalid="true"' in answer.text or "-error" in answer.text
        assert answer.text.count("<title>Error: ") == 1
    assert row_counts(app) == before
    ok = ask(browser, app)  # and the form still works
    assert "Your request has been sent" in text(ok)


def test_decision_form_errors_write_nothing(app: Flask, registered: Any, moodle: Any,
                                            browser: FormBrowser, second_browser: FormBrowser,
                                            grant_als: Any) -> None:
    grant_als("6")
    launch(browser, moodle, "learner1")
    rid = request_id(ask(browser, app))
    launch(second_browser, moodle, "als1")
    page = als_page(second_browser, app, rid)
    action, fields = form(page, "/decision")
    before = row_counts(app)
    for changes, message in DECISION_ERRORS:
        values = _apply({**fields, **AN_APPROVAL}, changes)
        answer = second_browser.request("POST", action, data=values, initiator=page.url)
        assert answer.status_code == 400, changes
        assert text(answer).count(message) == 2, (changes, message)
    assert row_counts(app) == before
    assert "Status: Waiting for the ALS team" in text(browser.open(f"{base(app)}/requests/{rid}"))


def test_empty_answer_is_refused(app: Flask, registered: Any, moodle: Any, browser: FormBrowser,
                                 second_browser: FormBrowser, grant_als: Any) -> None:
    from tests.requests.conftest import decide

    grant_als("6")
    launch(browser, moodle, "learner1")
    rid = request_id(ask(browser, app))
    launch(second_browser, moodle, "als1")
    decide(second_browser, app, rid, {"outcome": "more_info", "question": "Which plan?"})
    page = browser.open(f"{base(app)}/requests/{rid}")
    before = row_counts(app)
    answer = fill(browser, page, "/answer", {"answer": " "}, follow=False)
    assert answer.status_code == 400
    assert text(answer).count("Write your answer to the ALS team's question.") == 2
    assert row_counts(app) == before


def test_forms_need_their_csrf_token(app: Flask, registered: Any, moodle: Any,
                                     browser: FormBrowser) -> None:
    launch(browser, moodle, "learner1")
    page = browser.open(base(app) + "/requests/new")
    action, _ = form(page, "/requests/new")
    before = row_counts(app)
    answer = browser.request("POST", action, data=A_REQUEST, initiator=page.url)
    assert answer.status_code == 400 and "form has expired" in text(answer)
    assert row_counts(app) == before
