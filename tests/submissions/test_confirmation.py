"""Confirm, then act (lti_tool/submissions/confirmation.py): the first POST shows the
confirmation page and writes nothing, not even the submission key; only a POST carrying a
token over exactly the confirmed fields acts; anything else is refused."""

from __future__ import annotations

import io
import re
from typing import Any

import sqlalchemy as sa
from flask import Flask, request
from werkzeug.datastructures import MultiDict

from lti_tool.extensions import csrf, db
from lti_tool.submissions import confirmation
from lti_tool.submissions.guard import once
from lti_tool.submissions.models import FormSubmission
from tests.conftest import row_counts

DONE: list[tuple[str, str | None, bytes | None]] = []


def _wire(app: Flask) -> None:
    @app.post("/test-confirm")
    @csrf.exempt
    @once
    def act() -> Any:
        if not confirmation.confirmed():
            return confirmation.ask(
                title="Remove the thing?", consequences=["It is gone for good."],
                confirm_label="Remove it", cancel_url="/", danger=True,
                preview=confirmation.Preview(to="ada@example.org", subject="Removed",
                                             body="Hello Ada"))
        name, content = confirmation.uploaded_file("file")
        DONE.append((request.form["what"], name, content))
        return "done"


def _hidden(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)


def _unescape(value: str) -> str:
    return value.replace("&#34;", '"').replace("&quot;", '"').replace("&amp;", "&")


def test_the_first_post_asks_and_writes_nothing_the_confirmed_one_acts(app: Flask) -> None:
    _wire(app)
    DONE.clear()
    client = app.test_client()
    before = row_counts(app)
    key = "k" * 40
    page = client.post("/test-confirm", data={"what": "box", "submission_key": key,
                                              "file": (io.BytesIO(b"pdf!"), "e.pdf")},
                       content_type="multipart/form-data")
    assert page.status_code == 200 and DONE == []
    html = page.get_data(as_text=True)
    assert html.count("<h1>") == 1 and "It is gone for good." in html
    assert "ada@example.org" in html and "Hello Ada" in html and "button-danger" in html
    # Not even the submission key is claimed (the page's CSRF token starts a web session,
    # which a person coming from Moodle already has).
    after = row_counts(app)
    assert {t: n for t, n in after.items() if t != "web_session"} == {
        t: n for t, n in before.items() if t != "web_session"}
    fields = [(name, _unescape(value)) for name, value in _hidden(html) if name != "csrf_token"]
    assert ("what", "box") in fields and any(n == "confirmation" for n, _ in fields)

    # Edited after confirming: refused, nothing done.
    tampered = [(n, "bag" if n == "what" else v) for n, v in fields]
    refused = client.post("/test-confirm", data=MultiDict(tampered))
    assert refused.status_code == 400 and DONE == []
    assert "nothing was done" in refused.get_data(as_text=True)
    forged = [*[(n, v) for n, v in fields if n not in ("confirmation", "submission_key")],
              ("confirmation", "forged"), ("submission_key", "z" * 40)]
    bogus = client.post("/test-confirm", data=MultiDict(forged))
    assert bogus.status_code == 400 and DONE == []

    # The confirmation as sent: done once, with the carried file.
    done = client.post("/test-confirm", data=MultiDict(fields))
    assert done.status_code == 200 and DONE == [("box", "e.pdf", b"pdf!")]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FormSubmission)) == 1
