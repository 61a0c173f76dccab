"""A form sent twice, or twelve times at once (a double click, a resend, an impatient
marker), makes one record and sends one email: the form's one-time submission key is
claimed in the same transaction as the record, and every repeat gets the first answer."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from flask import Flask
from requests.cookies import get_cookie_header

from lti_tool.extensions import db
from lti_tool.outbox.models import OutboxMessage
from tests.cases.flows import CHECKER, Courses, incidents, not_receipts, panel, wait_for
from tests.conftest import SmtpSink, row_counts
from tests.support.browser import FormBrowser, RequestContext
from tests.support.pages import confirm, confirmation_fields, form, post_form

PARALLEL = 12


def _emails(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                  .where(OutboxMessage.kind == "email"))
        db.session.remove()
        return int(count or 0)


def test_twelve_parallel_posts_make_one_incident_and_one_email(
        app: Flask, declared: Courses, moodle: Any, smtp: SmtpSink,
        browser: FormBrowser) -> None:
    page = panel(browser, moodle, "marker1", declared.cipd.id, "learner1")
    new = browser.open(page.url + "/incidents/new")
    action, fields = form(new, "")  # the page posts to itself
    assert fields.get("submission_key"), "the form carries a one-time key"
    fields.update({"source": CHECKER, "checker_result": "82% likely AI-generated",
                   "observations": "The style changes abruptly in section 2."})
    # The form asks for a confirmation first; the twelve posts are of the confirmation page.
    asked = browser.request("POST", action, data=fields, initiator=new.url)
    assert asked.status_code == 200 and len(incidents(app)) == 0
    action, pairs = confirmation_fields(asked)
    assert dict(pairs)["submission_key"] == fields["submission_key"]
    # The Cookie header the browser itself would send with this post.
    browser.policy.context = RequestContext(browser.top_level, new.url, "POST")
    cookies = get_cookie_header(browser.session.cookies, requests.Request("POST", action)
                                .prepare())
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(new.url))
    emails_before = _emails(app)  # the fixtures' declaration receipts
    start = threading.Barrier(PARALLEL)
    answers: list[requests.Response] = []

    def send() -> None:
        with requests.Session() as client:
            start.wait(10)
            answers.append(client.post(action, data=pairs, timeout=60, headers={
                "Cookie": cookies, "Origin": origin, "Referer": new.url},
                allow_redirects=False))

    threads = [threading.Thread(target=send) for _ in range(PARALLEL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert len(answers) == PARALLEL
    # Every post answers as the first did: to the incident's page, never an error page.
    assert {a.status_code for a in answers} == {303}, [a.status_code for a in answers]
    locations = {a.headers["Location"] for a in answers}
    assert len(locations) == 1 and "/incidents/" in locations.pop()
    assert len(incidents(app)) == 1
    assert _emails(app) == emails_before + 1
    wait_for(lambda: len(not_receipts(smtp)) >= 1)
    time.sleep(0.5)  # anything else that were to be sent would arrive by now
    assert [m["To"] for m in not_receipts(smtp)] == ["learner1@example.test"]


def test_a_resent_form_gives_the_first_answer_and_a_keyless_post_is_refused(
        app: Flask, declared: Courses, moodle: Any, browser: FormBrowser) -> None:
    page = panel(browser, moodle, "marker1", declared.cipd.id, "learner1")
    new = browser.open(page.url + "/incidents/new")
    values = {"source": CHECKER, "checker_result": "82%", "observations": "Abrupt change."}
    asked = post_form(browser, new, values)
    first = confirm(browser, asked)
    assert first.status_code == 200 and "Incident recorded" in first.text
    before = row_counts(app)
    again = post_form(browser, new, values)  # the browser's "resend" of the same page
    assert again.status_code == 200 and again.url == first.url
    again = confirm(browser, asked)  # and of the confirmation page
    assert again.status_code == 200 and again.url == first.url
    assert row_counts(app) == {**before, "web_session": row_counts(app)["web_session"]}
    action, fields = form(new, "")  # the page posts to itself
    del fields["submission_key"]
    refused = browser.request("POST", action, data={**fields, **values}, initiator=new.url)
    assert refused.status_code == 400 and "Reload the page" in refused.text
    assert len(incidents(app)) == 1


def test_a_form_with_errors_keeps_its_key_for_the_corrected_send(
        app: Flask, declared: Courses, moodle: Any, browser: FormBrowser) -> None:
    page = panel(browser, moodle, "marker1", declared.cipd.id, "learner1")
    new = browser.open(page.url + "/incidents/new")
    bad = post_form(browser, new, {"source": CHECKER})
    assert bad.status_code == 400 and len(incidents(app)) == 0
    good = confirm(browser, post_form(browser, new, {"source": CHECKER, "checker_result": "82%",
                                                     "observations": "Abrupt change."}))
    assert good.status_code == 200 and "Incident recorded" in good.text
    assert len(incidents(app)) == 1
