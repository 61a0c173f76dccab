"""The fair process, through real launches: disclosure and its preview, the response window,
draft answers and files, the reasoned and safeguarded decision (guardrail, warnings,
confirmation), the decision letter (tool, email, PDF) and the learner's own cases page."""

from __future__ import annotations

import io
import re
from typing import Any

import sqlalchemy as sa
from flask import Flask
from pypdf import PdfReader

from lti_tool.cases.models import AnswerDraft, EvidenceItem, LearnerFile
from lti_tool.extensions import db
from tests.cases.flows import (
    PDF,
    Courses,
    decide,
    incident_url,
    incidents,
    not_receipts,
    panel,
    record,
    wait_for,
)
from tests.cases.test_answers import _body
from tests.conftest import SmtpSink, row_counts
from tests.support.browser import FormBrowser, launch
from tests.support.pages import confirm, confirmation_fields, post_form, text


def _question_email(smtp: SmtpSink) -> Any:
    wait_for(lambda: any(m["Subject"].startswith("A question") for m in not_receipts(smtp)))
    return [m for m in not_receipts(smtp) if m["Subject"].startswith("A question")][-1]


def test_disclosure_is_previewed_and_the_email_says_everything(
        app: Flask, declared: Courses, moodle: Any, smtp: SmtpSink,
        browser: FormBrowser) -> None:
    app.config.update(ALS_CONTACT_EMAIL="als@example.test")
    page = panel(browser, moodle, "marker1", declared.cipd.id, "learner1")
    form = browser.open(page.url + "/incidents/new")
    fields = {"source": "Turnitin AI writing detection", "checker_result": "82% likely AI",
              "observations": "The style changes abruptly in section 2.",
              "evidence_label": "Tutor's notes", "evidence_text": "Confidential tutor notes.",
              "evidence_withheld": "y"}
    before = row_counts(app)
    refused = post_form(browser, form, fields)
    assert refused.status_code == 400 and "Give the reason for not showing" in text(refused)
    assert row_counts(app) == before
    asked = post_form(browser, form, {**fields, "evidence_withheld_reason": "They name a "
                                      "second learner."})
    preview = text(asked)
    assert asked.status_code == 200 and "The email that will be sent" in preview
    assert "The style changes abruptly in section 2." in preview
    assert "Turnitin AI writing detection reported: 82% likely AI" in preview
    assert "Confidential tutor notes." not in preview and "1 withheld" in preview
    assert row_counts(app) == before  # the preview writes nothing
    recorded = confirm(browser, asked)
    assert recorded.status_code == 200, recorded.text
    assert "Not shown to the learner" in text(recorded) and "second learner" in text(recorded)
    body = _body(_question_email(smtp))
    for expected in ("What your tutor observed:", "The style changes abruptly",
                     "82% likely AI", "it is not a verdict", "Please answer by",
                     "it would be your Stage 1", "Work will be marked",
                     "als@example.test", "appeal within 14 days", "CIPD",
                     "may be shared with the awarding body"):
        assert expected in body, expected
    assert "Confidential tutor notes." not in body
    (incident,) = incidents(app)
    assert incident.answer_due_at is not None
    # 10 working days: two weeks from a weekday; from a weekend, from the Monday after.
    assert (incident.answer_due_at - incident.raised_at).days in (14, 15)


def test_deciding_without_an_answer_waits_for_the_window_or_the_learner(
        app: Flask, declared: Courses, moodle: Any, browser: FormBrowser) -> None:
    url = incident_url(record(browser, panel(browser, moodle, "marker1", declared.cipd.id,
                                             "learner1")))
    before = row_counts(app)
    early = decide(browser, url, outcome="not_upheld",
                   without_answer_reason="I do not want to wait.")
    assert early.status_code == 400 and "only after" in text(early)
    assert row_counts(app) == before
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1", declared.cipd.id)
        (incident,) = incidents(app)
        answer = learner.open(f"{app.config['BASE_URL']}/learner/incidents/{incident.id}/answer")
        declined = post_form(learner, answer, {}, action=answer.url.replace("/answer",
                                                                            "/decline"))
        assert "you will not answer" in text(declined)
    no_reason = decide(browser, url, outcome="not_upheld")
    assert no_reason.status_code == 400 and "Give the reason for deciding without" in \
        text(no_reason)
    done = decide(browser, url, outcome="not_upheld",
                  without_answer_reason="The learner said they will not answer.")
    assert done.status_code == 200 and "Not upheld" in done.text
    assert incidents(app)[0].outcome == "not_upheld"


def test_draft_answers_and_files_are_checked_and_kept(app: Flask, declared: Courses,
                                                      moodle: Any,
                                                      browser: FormBrowser) -> None:
    url = incident_url(record(browser, panel(browser, moodle, "marker1", declared.cipd.id,
                                             "learner1")))
    (incident,) = incidents(app)
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1", declared.cipd.id)
        answer_url = f"{app.config['BASE_URL']}/learner/incidents/{incident.id}/answer"
        page = learner.open(answer_url)
        before = row_counts(app)
        bad = post_form(learner, page, {"draft-answer": "First thoughts"},
                        action=answer_url.replace("/answer", "/draft"),
                        files={"draft-file": ("notes.pdf", b"not a pdf", "application/pdf")})
        assert "content is not PDF" in text(bad)
        assert row_counts(app) == before  # neither the draft nor the file
        saved = post_form(learner, learner.open(answer_url),
                          {"draft-answer": "I wrote it over three weeks."},
                          action=answer_url.replace("/answer", "/draft"),
                          files={"draft-file": ("history.pdf", PDF, "application/pdf")})
        assert "Draft saved" in text(saved) and "history.pdf" in saved.text
        assert "I wrote it over three weeks." in learner.open(answer_url).text
        assert "I wrote it over three weeks." not in browser.open(url).text  # staff: no
        sent = post_form(learner, learner.open(answer_url),
                         {"answer": "I wrote it over three weeks; see my history."})
        assert sent.status_code == 200
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AnswerDraft)) == 0
        assert db.session.scalar(sa.select(LearnerFile.filename)) == "history.pdf"
    staff_page = browser.open(url)
    assert "see my history" in staff_page.text and "history.pdf" in staff_page.text


def test_a_checker_result_alone_cannot_uphold(app: Flask, declared: Courses, moodle: Any,
                                              browser: FormBrowser) -> None:
    url = incident_url(record(browser, panel(browser, moodle, "marker1", declared.cipd.id,
                                             "learner1")))
    before = row_counts(app)
    alone = decide(browser, url, without_answer="y", independent=False)
    assert alone.status_code == 400
    assert "An AI-checker result alone cannot uphold a case" in text(alone)
    assert row_counts(app)["stage_ledger"] == before["stage_ledger"]
    missing = decide(browser, url, without_answer="y", account_reasons="")
    assert missing.status_code == 400 and "learner's account" in text(missing)
    upheld = decide(browser, url, without_answer="y")
    assert upheld.status_code == 200 and "Upheld</strong>: Stage 1" in upheld.text


def test_declared_use_is_a_warning_to_acknowledge_then_confirmation_states_consequences(
        app: Flask, declared: Courses, moodle: Any, browser: FormBrowser) -> None:
    url = incident_url(record(browser, panel(browser, moodle, "marker1", declared.cipd.id,
                                             "learner1")))
    page = browser.open(url)
    assert "Declared on" in text(page)
    if "declared AI use for this assignment" in text(page):
        refused = decide(browser, url, without_answer="y", acknowledge=False)
        assert refused.status_code == 400 and "Confirm you have considered" in text(refused)
    asked = decide(browser, url, without_answer="y", confirmed=False)
    said = text(asked)
    assert "This will be Lena Learner's Stage 1 across all courses" in said
    assert "Moodle's gradebook will show" in said and "AI use policy stage 1 of 3" in said
    assert "may appeal within 14 days" in said
    assert incidents(app)[0].outcome is None  # nothing written before confirming
    confirmed = confirm(browser, asked)
    assert "Decision recorded" in text(confirmed)


def test_poor_academic_practice_is_for_a_first_case(app: Flask, declared: Courses,
                                                    moodle: Any,
                                                    browser: FormBrowser) -> None:
    url = incident_url(record(browser, panel(browser, moodle, "marker1", declared.cipd.id,
                                             "learner1")))
    assert "Poor academic practice" in browser.open(url).text
    done = decide(browser, url, outcome="poor_practice", without_answer="y")
    assert done.status_code == 200 and "Poor academic practice" in done.text
    assert incidents(app)[0].stage is None  # counts towards no stage
    second = incident_url(record(browser, panel(browser, moodle, "marker1",
                                                declared.cipd.id, "learner1")))
    assert 'value="poor_practice"' not in browser.open(second).text
    refused = decide(browser, second, outcome="poor_practice", without_answer="y")
    assert refused.status_code == 400


def test_decision_letter_in_the_tool_by_email_and_as_pdf(app: Flask, declared: Courses,
                                                         moodle: Any, smtp: SmtpSink,
                                                         browser: FormBrowser) -> None:
    url = incident_url(record(browser, panel(browser, moodle, "marker1", declared.cipd.id,
                                             "learner1")))
    decide(browser, url, without_answer="y",
           reasons="Section 2 cites a report that does not exist.")
    wait_for(lambda: any(m["Subject"].startswith("The outcome") for m in smtp.messages))
    (email,) = [m for m in smtp.messages if m["Subject"].startswith("The outcome")]
    body = _body(email)
    assert "Why this outcome" in body and "does not exist" in body
    assert "How to appeal" in body and "You can appeal until" in body
    link = re.search(r"http://localhost:\d+/learner/cases/view/[\w.\-]+", body)
    assert link
    with FormBrowser() as stranger:  # the emailed link: read-only, no launch needed
        page = stranger.open(link.group(0))
        assert page.status_code == 200 and "does not exist" in page.text
        assert "it is read-only" in text(page) and "Appeal this decision" not in page.text
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1", declared.cipd.id)
        cases = learner.open(f"{app.config['BASE_URL']}/learner/cases")
        said = text(cases)
        assert "Upheld: Stage 1" in said and "Stage 1 of 3" in said
        assert "Appeal this decision" in said and "does not exist" in said
        (incident,) = incidents(app)
        pdf = learner.open(f"{app.config['BASE_URL']}/learner/cases/{incident.id}/letter.pdf")
        assert pdf.headers["Content-Type"] == "application/pdf"
        letter = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        assert "Decision on your AI-use case" in letter and "does not exist" in letter
        assert "You can appeal until" in letter


def test_the_activity_page_shows_an_open_case_above_the_policy(
        app: Flask, declared: Courses, moodle: Any, browser: FormBrowser) -> None:
    record(browser, panel(browser, moodle, "marker1", declared.cipd.id, "learner1"))
    with FormBrowser() as learner:
        page = launch(learner, moodle, "learner1", declared.cipd.id)
        assert page.text.index('id="questions-heading"') < page.text.index('id="policy-heading"')
        assert "Answer the question by" in text(page)
        assert "My AI-use cases" in page.text


def test_evidence_withheld_is_never_shown_to_the_learner(app: Flask, declared: Courses,
                                                         moodle: Any,
                                                         browser: FormBrowser) -> None:
    url = incident_url(record(browser, panel(browser, moodle, "marker1", declared.cipd.id,
                                             "learner1")))
    page = browser.open(url)
    post_form(browser, page, {"evidence-label": "Witness statement",
                              "evidence-text": "Secret witness text.", "evidence-withheld": "y",
                              "evidence-withheld_reason": "It names the witness."},
              action=url + "/evidence")
    with app.app_context():
        withheld = db.session.scalar(sa.select(EvidenceItem).where(
            EvidenceItem.disclosed.is_(False)))
        assert withheld is not None and withheld.withheld_reason == "It names the witness."
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1", declared.cipd.id)
        cases = learner.open(f"{app.config['BASE_URL']}/learner/cases")
        assert "Secret witness text." not in cases.text and "82% likely" in cases.text


def test_confirmation_fields_carry_the_file(app: Flask, declared: Courses, moodle: Any,
                                            browser: FormBrowser) -> None:
    page = panel(browser, moodle, "marker1", declared.cipd.id, "learner1")
    form = browser.open(page.url + "/incidents/new")
    asked = post_form(browser, form, {"source": "observation",
                                      "observations": "Odd references."},
                      files={"evidence_file": ("notes.pdf", PDF, "application/pdf")})
    _, fields = confirmation_fields(asked)
    assert any(name.startswith("carried_file-") for name, _ in fields)
    assert "the file notes.pdf" in text(asked)
    confirm(browser, asked)
    with app.app_context():
        assert db.session.scalar(sa.select(EvidenceItem.filename)) == "notes.pdf"
