"""Whole flows through launches: a learner asks, an ALS member decides in the tool, the
learner sees the outcome and is emailed at a real SMTP server."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.audit import service as audit
from lti_tool.audit.models import AuditEvent
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.outbox.handlers import EMAIL
from lti_tool.outbox.models import DELIVERED, PENDING, OutboxMessage
from lti_tool.outbox.service import deliver_due
from lti_tool.requests.models import AiToolRequest, RequestDecision
from tests.conftest import SmtpSink
from tests.requests.conftest import (
    AN_APPROVAL,
    als_page,
    ask,
    base,
    decide,
    request_id,
)
from tests.support.browser import FormBrowser, launch
from tests.support.pages import confirmation_fields, fill, text, wait_for


def _body(mail: Any, subtype: str) -> str:
    for part in mail.walk():
        if part.get_content_type() == f"text/{subtype}":
            return str(part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8"))
    raise AssertionError(f"no text/{subtype} part")


def _emails(app: Flask) -> list[OutboxMessage]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(OutboxMessage)
                                        .where(OutboxMessage.kind == EMAIL)
                                        .order_by(OutboxMessage.id)))
        for message in found:
            db.session.expunge(message)
        return found


def test_learner_asks_als_approves_learner_sees_it_and_is_emailed(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser,
        second_browser: FormBrowser, grant_als: Any, smtp: SmtpSink) -> None:
    grant_als("6")
    landing = launch(browser, moodle, "learner1")
    assert "Permission to use an AI tool" in text(landing)
    assert "Review queue" not in text(landing)
    sent = ask(browser, app)
    assert sent.status_code == 200
    assert "Your request has been sent to the ALS team" in text(sent)
    assert "Waiting for the ALS team" in text(sent)
    rid = request_id(sent)

    als_landing = launch(second_browser, moodle, "als1")  # an Instructor in Moodle
    assert "Review queue" in text(als_landing)
    queue = second_browser.open(base(app) + "/als/")
    assert "Lena Learner" in text(queue) and "Microsoft Copilot" in text(queue)
    assert "waiting under an hour" in text(queue)
    page = als_page(second_browser, app, rid)
    assert "I have dyslexia" in text(page)  # the ALS team sees the learner's reasons
    decided = decide(second_browser, app, rid, AN_APPROVAL)
    assert decided.status_code == 200
    assert "Decision recorded: approved. The learner is told by email and in the tool." \
        in text(decided)

    mine = browser.open(f"{base(app)}/requests/{rid}")
    assert "Status: Approved" in text(mine)
    assert AN_APPROVAL["conditions"] in text(mine) and "31 July 2099" in text(mine)
    assert "Withdraw the request" not in text(mine)
    again = browser.open(landing.url)  # the assignment page lists the authorisation
    assert "Microsoft Copilot: for the course CIPD L5 People Practice, until 31 July 2099" \
        in text(again)

    assert wait_for(lambda: len(smtp.messages) == 1), "the email did not arrive"
    mail = smtp.messages[0]
    assert mail["To"] == "learner1@example.test"
    assert mail["Subject"] == "Your request to use Microsoft Copilot is approved"
    assert AN_APPROVAL["conditions"] in _body(mail, "plain")
    assert "31 July 2099" in _body(mail, "html")
    assert [m.status for m in _emails(app)] == [DELIVERED]

    with app.app_context():
        actions = list(db.session.scalars(sa.select(AuditEvent.action)))
        assert "ai_request.created" in actions and "ai_request.decided" in actions
        assert audit.verify().ok


def test_more_information_loop(app: Flask, registered: Any, moodle: Any, browser: FormBrowser,
                               second_browser: FormBrowser, grant_als: Any,
                               smtp: SmtpSink) -> None:
    grant_als("6")
    launch(browser, moodle, "learner1")
    rid = request_id(ask(browser, app))
    launch(second_browser, moodle, "als1")
    question = "Which adjustment does your support plan name?"
    asked = decide(second_browser, app, rid, {"outcome": "more_info", "question": question})
    assert "Decision recorded: more information requested" in text(asked)
    queue = second_browser.open(base(app) + "/als/")
    assert "Waiting for the learner" in text(queue)  # still open, waiting on the learner

    page = browser.open(f"{base(app)}/requests/{rid}")
    assert "The ALS team needs more information" in text(page) and question in text(page)
    landing = browser.open(base(app) + "/requests/")
    assert "More information needed" in text(landing)
    assert wait_for(lambda: len(smtp.messages) == 1)
    assert "needs more information" in smtp.messages[0]["Subject"]
    assert question in _body(smtp.messages[0], "plain")

    answer = "Plan SP-12: assistive software for planning."
    answered = fill(browser, page, f"/requests/{rid}/answer", {"answer": answer})
    assert "Your answer has been sent to the ALS team" in text(answered)
    assert "Status: Waiting for the ALS team" in text(answered)
    assert "The ALS team needs more information" not in text(answered)

    back = als_page(second_browser, app, rid)
    assert answer in text(back) and "Waiting for the ALS team" in text(back)
    decide(second_browser, app, rid, AN_APPROVAL, page=back)
    final = text(browser.open(f"{base(app)}/requests/{rid}"))
    assert "Status: Approved" in final
    # The learner's history reads in order: asked, question, answer, approval.
    assert final.index("You asked") < final.index(question) < final.index(answer) \
        < final.index("The ALS team approved the request")
    assert wait_for(lambda: len(smtp.messages) == 2)


def test_learner_withdraws_while_pending(app: Flask, registered: Any, moodle: Any,
                                         browser: FormBrowser, second_browser: FormBrowser,
                                         grant_als: Any) -> None:
    grant_als("6")
    launch(browser, moodle, "learner1")
    page = ask(browser, app)
    rid = request_id(page)
    launch(second_browser, moodle, "als1")
    stale = als_page(second_browser, app, rid)  # open before the learner withdraws

    withdrawn = fill(browser, page, f"/requests/{rid}/withdraw", {})
    assert "You have withdrawn your request" in text(withdrawn)
    assert "Status: Withdrawn" in text(withdrawn)
    assert "Withdraw the request" not in text(withdrawn)

    late = decide(second_browser, app, rid, AN_APPROVAL, page=stale, follow=False)
    assert late.status_code == 409
    assert "Someone else changed this request" in text(late)
    assert "nothing to decide" in text(late)
    assert "No requests match" in text(second_browser.open(base(app) + "/als/"))
    listed = second_browser.open(base(app) + "/als/?status=withdrawn")
    assert "Microsoft Copilot" in text(listed)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestDecision)) == 0
    assert _emails(app) == []


def test_a_decided_request_cannot_be_withdrawn(app: Flask, registered: Any, moodle: Any,
                                               browser: FormBrowser,
                                               second_browser: FormBrowser,
                                               grant_als: Any) -> None:
    grant_als("6")
    launch(browser, moodle, "learner1")
    page = ask(browser, app)  # the learner's page, with the withdraw button
    rid = request_id(page)
    launch(second_browser, moodle, "als1")
    decide(second_browser, app, rid, AN_APPROVAL)
    late = fill(browser, page, f"/requests/{rid}/withdraw", {}, follow=False)
    assert late.status_code == 409
    assert "changed while you had it open" in text(late)
    assert "Status: Approved" in text(late)


def test_change_of_mind_is_a_new_decision(app: Flask, registered: Any, moodle: Any,
                                          browser: FormBrowser, second_browser: FormBrowser,
                                          grant_als: Any) -> None:
    grant_als("6")
    landing = launch(browser, moodle, "learner1")
    rid = request_id(ask(browser, app))
    launch(second_browser, moodle, "als1")
    decide(second_browser, app, rid, AN_APPROVAL)
    with app.app_context():
        first = db.session.scalar(sa.select(RequestDecision))
        assert first is not None
        snapshot = (first.id, first.outcome, first.conditions, first.expires_on,
                    first.created_at)
    revoked = decide(second_browser, app, rid, {"outcome": "revoked",
                                                "reason": "The support plan ended."})
    assert "Decision recorded: authorisation revoked" in text(revoked)
    assert "Status: Revoked" in text(revoked)
    page = text(browser.open(landing.url))
    assert "No AI tool authorisations" in page
    learner_view = text(browser.open(f"{base(app)}/requests/{rid}"))
    assert "The ALS team revoked the authorisation" in learner_view
    assert "The support plan ended." in learner_view

    renewed = decide(second_browser, app, rid, {**AN_APPROVAL, "scope": "assignment",
                                                "expires_on": "2098-01-31"})
    assert "Status: Approved" in text(renewed)
    assert "for the assignment" in text(browser.open(landing.url))
    with app.app_context():
        decisions = list(db.session.scalars(sa.select(RequestDecision)
                                            .order_by(RequestDecision.id)))
        assert [d.outcome for d in decisions] == ["approved", "revoked", "approved"]
        d = decisions[0]
        assert (d.id, d.outcome, d.conditions, d.expires_on, d.created_at) == snapshot
    subjects = [m.summary for m in _emails(app)]
    assert len(subjects) == 3


def test_a_learner_without_email_sees_the_outcome_in_the_tool(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser,
        second_browser: FormBrowser, grant_als: Any) -> None:
    moodle.user("learner2").email = ""
    grant_als("6")
    launch(browser, moodle, "learner2")
    rid = request_id(ask(browser, app))
    launch(second_browser, moodle, "als1")
    decided = decide(second_browser, app, rid, {"outcome": "declined",
                                                "reason": "Use the library's reading lists."})
    assert "told in the tool (Moodle shared no email address for them)" in text(decided)
    mine = text(browser.open(f"{base(app)}/requests/{rid}"))
    assert "Status: Declined" in mine and "Use the library's reading lists." in mine
    assert _emails(app) == []


def test_a_stopped_mail_server_delays_the_email_without_losing_it(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser,
        second_browser: FormBrowser, grant_als: Any, smtp: SmtpSink) -> None:
    grant_als("6")
    launch(browser, moodle, "learner1")
    rid = request_id(ask(browser, app))
    launch(second_browser, moodle, "als1")
    smtp.stop()
    decided = decide(second_browser, app, rid, AN_APPROVAL)
    assert "Decision recorded: approved" in text(decided)  # the outage does not block it
    assert "Status: Approved" in text(browser.open(f"{base(app)}/requests/{rid}"))

    def tried_once() -> bool:
        (message,) = _emails(app)
        return message.attempts >= 1 and message.locked_until is None

    assert wait_for(tried_once)  # the attempt right after the request failed...
    (message,) = _emails(app)
    assert message.status == PENDING and "could not be reached" in message.last_error
    smtp.start()
    with app.app_context():  # ...and the worker's next round delivers it
        db.session.execute(sa.update(OutboxMessage).values(next_attempt_at=utcnow()))
        db.session.commit()
        assert deliver_due() == {DELIVERED: 1}
    assert len(smtp.messages) == 1
    assert smtp.messages[0]["Subject"] == "Your request to use Microsoft Copilot is approved"


def test_two_als_members_deciding_at_once_cannot_both_succeed(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser,
        second_browser: FormBrowser, grant_als: Any) -> None:
    grant_als("6", "5")  # als1 and marker1 are both in the ALS team
    launch(browser, moodle, "learner1")
    rid = request_id(ask(browser, app))
    with FormBrowser() as third:
        launch(second_browser, moodle, "als1")
        launch(third, moodle, "marker1")
        pages = [als_page(second_browser, app, rid), als_page(third, app, rid)]
        decisions = [AN_APPROVAL, {"outcome": "declined", "reason": "Not needed."}]
        start = threading.Barrier(2)
        statuses: list[int] = []

        def post(who: FormBrowser, page: Any, values: dict[str, str]) -> None:
            asked = fill(who, page, f"/als/requests/{rid}/decision", values)
            action, fields = confirmation_fields(asked)  # both confirm at the same moment
            start.wait()
            answer = who.request("POST", action, data=fields,  # type: ignore[arg-type]
                                 initiator=asked.url)
            statuses.append(answer.status_code)

        threads = [threading.Thread(target=post, args=(b, p, v))
                   for b, p, v in zip((second_browser, third), pages, decisions, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert sorted(statuses) == [200, 409]  # one decision (303, followed), one refusal
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestDecision)) == 1
        req = db.session.get(AiToolRequest, rid)
        assert req is not None and req.version == 2
