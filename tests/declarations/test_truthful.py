"""Issue 11: declarations that tell the truth. Authorisations written into what the learner
confirms, authentication at submission, made-aware evidence, the comprehension check and a
form that is kind to fill in; whole launches through the Moodle stand-in."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from lti_tool.declarations.models import (
    Authentication,
    AwarenessEvent,
    ComprehensionAttempt,
    Declaration,
    ImmutableRecord,
)
from lti_tool.extensions import db
from lti_tool.outbox.handlers import SCORE
from lti_tool.outbox.models import OutboxMessage
from tests.cases.test_answers import _body
from tests.conftest import SmtpSink, row_counts
from tests.declarations.test_declarations import (
    GOOD,
    _authorise,
    _placement_id,
    declare,
    deep_link,
    wait_for,
)
from tests.support.browser import FormBrowser, launch
from tests.support.pages import post_form, text

PLAIN_AFTER_START = ("I will not use AI once I start the assignment, including to check "
                     "spelling and grammar, check my work meets the assessment criteria, "
                     "compile references or citations, or reduce the word count.")


@pytest.fixture
def activity(registered: Any, moodle: Any) -> Any:
    with FormBrowser() as teacher:
        return deep_link(teacher, moodle)


def _grammarly(app: Flask) -> int:
    return _authorise(app, "3", "Grammarly", purpose="basic spelling and grammar correction",
                      conditions="Spelling and grammar suggestions only; no rewriting")


def test_authorised_learner_declares_without_a_false_statement(
        app: Flask, activity: Any, moodle: Any, browser: FormBrowser) -> None:
    page = launch(browser, moodle, "learner1", activity.id)
    _grammarly(app)
    card = text(browser.open(page.url))
    assert "Grammarly — basic spelling and grammar correction, conditions: Spelling and " \
           "grammar suggestions only; no rewriting, until" in card
    form = browser.open(page.url + "/declare")
    shown = text(form)
    assert "except as the ALS team authorised: Grammarly — basic spelling and grammar " \
           "correction" in shown
    assert PLAIN_AFTER_START not in shown  # the untrue promise is not asked for
    receipt = post_form(browser, form, GOOD)
    assert receipt.status_code == 200, receipt.text
    confirmed = text(receipt)
    assert "Relies on these authorisations Grammarly — basic spelling" in confirmed
    assert "or reduce the word count, except as the ALS team authorised: Grammarly" in confirmed
    with app.app_context():
        declaration = db.session.scalar(sa.select(Declaration))
        assert declaration is not None
        stored = json.loads(declaration.statements)
        after_start = next(s["text"] for s in stored["confirmed"]
                           if s["key"] == "confirmed_no_ai_after_start")
        assert "except as the ALS team authorised: Grammarly" in after_start
        person_id = declaration.person_id
    with FormBrowser() as marker:
        overview = launch(marker, moodle, "marker1", activity.id)
        panel = text(marker.open(overview.url + f"/learners/{person_id}"))
        assert after_start in panel  # staff read the same words the learner confirmed
        assert "ALS authorisations written into it Grammarly — basic spelling" in panel
        exported = marker.open(overview.url + "/declarations.csv").text
        assert "Grammarly — basic spelling and grammar correction, conditions:" in exported


def test_learner_without_an_authorisation_cannot_claim_one(
        app: Flask, activity: Any, moodle: Any, browser: FormBrowser) -> None:
    launch(browser, moodle, "learner1", activity.id)
    someone_elses = _grammarly(app)  # learner1's authorisation
    with FormBrowser() as other:
        page = launch(other, moodle, "learner2", activity.id)
        card = text(page)
        assert "The ALS team can authorise a specific AI tool for you" in card
        form = other.open(page.url + "/declare")
        assert PLAIN_AFTER_START in text(form)
        before = row_counts(app)
        answer = post_form(other, form, {**GOOD, "signature": "Liam Learnwell",
                                         "authorisations": [str(someone_elses)]})
        assert answer.status_code == 400
        assert "You can only rely on an authorisation the ALS team gave you" in answer.text
        assert row_counts(app) == before
        receipt = post_form(other, form, {**GOOD, "signature": "Liam Learnwell"})
        assert receipt.status_code == 200
        assert "Relies on these authorisations" not in receipt.text
        assert PLAIN_AFTER_START in text(receipt)


def test_als_contact_details_come_from_configuration(app: Flask, activity: Any, moodle: Any,
                                                     browser: FormBrowser) -> None:
    app.config.update(ALS_CONTACT_EMAIL="als@college.test", ALS_CONTACT_PHONE="01234 567890")
    page = launch(browser, moodle, "learner1", activity.id)
    assert 'href="mailto:als@college.test"' in page.text
    assert 'href="tel:01234567890"' in page.text
    full = browser.open(page.url + "/policy")
    assert 'href="mailto:als@college.test"' in full.text


def test_authentication_at_submission(app: Flask, activity: Any, moodle: Any,
                                      browser: FormBrowser) -> None:
    declare(browser, moodle, activity.id)
    page = launch(browser, moodle, "learner1", activity.id)
    assert "Authenticate your submitted work" in page.text
    form = browser.open(page.url + "/authenticate")
    assert "The work I submitted is my own. I used AI only as I declared on" in text(form)
    before = row_counts(app)
    bad = post_form(browser, form, {"signature": "Someone Else"})
    assert bad.status_code == 400
    assert "Confirm that the work you submitted is your own" in bad.text
    assert "as Moodle knows it: Lena Learner" in bad.text  # both errors at once
    assert row_counts(app) == before
    done = post_form(browser, form, {"confirmed": "y", "signature": "lena learner"})
    assert done.status_code == 200 and "You authenticated your work on" in done.text
    again = post_form(browser, form, {"confirmed": "y", "signature": "Lena Learner"})
    assert again.status_code == 200
    with app.app_context():
        (record,) = db.session.scalars(sa.select(Authentication))
        declaration = db.session.get(Declaration, record.declaration_id)
        assert declaration is not None
        assert record.policy_version_id == declaration.policy_version_id
        assert record.signature == "lena learner"
        assert record.statement.startswith("The work I submitted is my own.")
        person_id = record.person_id
        statement = record.statement
        record.signature = "changed"
        with pytest.raises(ImmutableRecord):
            db.session.flush()
        db.session.rollback()
    (item,) = moodle.activity_items(activity.id)
    wait_for(lambda: (g := moodle.grade_for(item.id, "learner1")) is not None
             and "authenticated on" in g.comment)
    grade = moodle.grade_for(item.id, "learner1")
    assert grade.score_given == 1 and grade.score_maximum == 1  # the gate stays open
    assert grade.comment.startswith("AI use declared before starting on ")
    assert grade.comment.endswith("(policy AIU v1.0)")
    with FormBrowser() as marker:
        overview = launch(marker, moodle, "marker1", activity.id)
        assert "Authenticated" in overview.text
        panel = text(marker.open(overview.url + f"/learners/{person_id}"))
        assert "Authentication after submitting" in panel and statement in panel


def test_made_aware_events_are_recorded_once_per_version(
        app: Flask, activity: Any, moodle: Any, browser: FormBrowser, runner: Any,
        tmp_path: Any) -> None:
    from lti_tool.policy import service as policies

    page = launch(browser, moodle, "learner1", activity.id)
    launch(browser, moodle, "learner1", activity.id)
    full = browser.open(page.url + "/policy")
    assert full.status_code == 200
    browser.open(page.url + "/policy")
    with app.app_context():
        kinds = sorted(db.session.scalars(sa.select(AwarenessEvent.kind)))
        assert kinds == ["card_viewed", "full_policy_opened"]
    data = json.loads(policies.BUNDLED.read_text("utf-8"))
    data["version"] = "1.1"
    new_file = tmp_path / "aiu-1.1.json"
    new_file.write_text(json.dumps(data), "utf-8")
    assert runner.invoke(args=["policy", "import", str(new_file), "--publish"]).exit_code == 0
    launch(browser, moodle, "learner1", activity.id)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AwarenessEvent)) == 3
        person_id = db.session.scalar(sa.select(AwarenessEvent.person_id))
    with FormBrowser() as marker:
        overview = launch(marker, moodle, "marker1", activity.id)
        panel = text(marker.open(overview.url + f"/learners/{person_id}"))
        assert "First saw the policy for this assignment (policy AIU v1.0)" in panel
        assert "First opened the full policy (policy AIU v1.0)" in panel
        assert "First saw the policy for this assignment (policy AIU v1.1)" in panel


def test_comprehension_check_blocks_declaring_until_passed(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser) -> None:
    with FormBrowser() as teacher:
        form = launch(teacher, moodle, "marker1", message_type="LtiDeepLinkingRequest")
        done = post_form(teacher, form, {
            "title": "Checked", "assignment_name": "Unit 2", "qualification": "CMI",
            "permitted_uses": ["reading", "planning", "criteria"], "comprehension_check": "y"})
        assert done.status_code == 200, done.text
        activity = moodle.activities[moodle.deep_link_results[-1].activity_ids[0]]
    page = launch(browser, moodle, "learner1", activity.id)
    check = browser.open(page.url + "/declare")
    assert check.url.endswith("/check") and "questions about the policy" in check.text
    refused = post_form(browser, browser.open(page.url + "/check"), GOOD,
                        action=page.url + "/declare")
    assert refused.url.endswith("/check")  # declaring waits for the check
    wrong = post_form(browser, check, {"q_spelling_after": "yes", "q_reading_before": "yes",
                                       "q_company_data": "no"})
    assert wrong.status_code == 200 and "Not quite: 1 answer" in wrong.text
    assert "“Spelling and grammar checks”" in wrong.text  # the policy's own reason
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Declaration)) == 0
        assert list(db.session.scalars(sa.select(ComprehensionAttempt.passed))) == [False]
    passed = post_form(browser, wrong, {"q_spelling_after": "no", "q_reading_before": "yes",
                                        "q_company_data": "no"})
    assert passed.url.endswith("/declare") and "Submit my declaration" in passed.text
    receipt = post_form(browser, passed, GOOD)
    assert receipt.status_code == 200, receipt.text
    assert "All answered correctly (2 attempts)" in text(receipt)
    with app.app_context():
        declaration = db.session.scalar(sa.select(Declaration))
        assert declaration is not None and declaration.comprehension is not None
        assert json.loads(declaration.comprehension)["attempts"] == 2


def test_every_error_is_shown_on_the_first_submit(app: Flask, activity: Any, moodle: Any,
                                                  browser: FormBrowser) -> None:
    page = launch(browser, moodle, "learner1", activity.id)
    form = browser.open(page.url + "/declare")
    answer = post_form(browser, form, {})
    assert answer.status_code == 400
    summary = answer.text.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    for message in ("Choose Yes or No", "company or personal data",
                    "once you start the assignment", "will be your own",
                    "Type your full name to sign"):
        assert message in summary, message


def test_change_starts_from_the_current_declaration(app: Flask, activity: Any, moodle: Any,
                                                    browser: FormBrowser) -> None:
    declare(browser, moodle, activity.id)
    form = browser.open(browser.current_url.split("/learner/")[0]
                        + f"/learner/placements/{_placement_id(app)}/declare")
    checked = re.findall(r'<input checked[^>]*value="(\w+)"', form.text)
    assert checked == ["yes", "reading", "planning"]
    assert "ChatGPT\nMicrosoft Copilot</textarea>" in form.text


def test_signature_ignores_case_and_spacing_but_keeps_what_was_typed(
        app: Flask, activity: Any, moodle: Any, browser: FormBrowser) -> None:
    receipt = declare(browser, moodle, activity.id, fields={**GOOD,
                                                            "signature": " lena   LEARNER "})
    assert receipt.status_code == 200, receipt.text
    with app.app_context():
        assert db.session.scalar(sa.select(Declaration.signature)) == "lena   LEARNER"


def test_receipt_is_emailed(app: Flask, activity: Any, moodle: Any, browser: FormBrowser,
                            smtp: SmtpSink) -> None:
    receipt = declare(browser, moodle, activity.id)
    assert "A copy has been emailed to learner1@example.test" in receipt.text
    wait_for(lambda: any(m["To"] == "learner1@example.test" for m in smtp.messages))
    (message,) = [m for m in smtp.messages if m["To"] == "learner1@example.test"]
    assert message["Subject"] == "Your AI use declaration: Unit 1 declaration"
    plain = _body(message)
    assert "- The work I submit will be my own." in plain
    assert "AI tools: ChatGPT, Microsoft Copilot" in plain and "Signed: Lena Learner" in plain


def test_receipt_shows_the_real_moodle_sync_state(app: Flask, activity: Any, moodle: Any,
                                                  browser: FormBrowser, runner: Any) -> None:
    moodle.down = True
    receipt = declare(browser, moodle, activity.id)
    assert "Waiting for Moodle" in browser.open(receipt.url).text
    moodle.down = False
    with app.app_context():
        db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.kind == SCORE)
                           .values(next_attempt_at=OutboxMessage.created_at))
        db.session.commit()
    runner.invoke(args=["worker", "--once"])
    assert "Recorded in Moodle's gradebook on" in browser.open(receipt.url).text


def test_als_contact_in_plain_text_emails(app: Flask) -> None:
    from flask import render_template_string

    app.config.update(ALS_CONTACT_EMAIL="als@college.test", ALS_CONTACT_URL="https://c.test/als")
    with app.test_request_context():
        rendered = render_template_string('{% from "macros/contact.html" import '
                                          'als_contact_text %}{{ als_contact_text(True) }}')
    assert rendered == "Contact the ALS team: email als@college.test, https://c.test/als"
