"""The ALS team is told: an email (or a line in the daily digest) for every new request and
every learner's answer, each linking straight to the request, through a launch when the
session is gone; the review queue link counts what waits."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.notifications.models import DigestItem
from lti_tool.notifications.service import send_digests
from lti_tool.outbox.models import OutboxMessage
from lti_tool.outbox.service import deliver_due
from tests.conftest import SmtpSink
from tests.requests.conftest import ask, base, decide, request_id
from tests.support.browser import FormBrowser, launch
from tests.support.pages import fill, text, wait_for

_LINK = re.compile(r"(http://\S+/open/[\w.-]+)")


def body(mail: Any, subtype: str = "plain") -> str:
    for part in mail.walk():
        if part.get_content_type() == f"text/{subtype}":
            return str(part.get_payload(decode=True).decode("utf-8"))
    raise AssertionError(f"no text/{subtype} part")


def mails_to(smtp: SmtpSink, address: str) -> list[Any]:
    return [m for m in smtp.messages if m["To"] == address]


def link_in(mail: Any) -> str:
    found = _LINK.search(body(mail))
    assert found, body(mail)
    assert found.group(1) in body(mail, "html")
    return found.group(1)


def test_new_request_and_answer_email_the_als_team_with_links_to_the_request(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser,
        second_browser: FormBrowser, grant_als: Any, smtp: SmtpSink) -> None:
    grant_als("6")
    launch(second_browser, moodle, "als1")  # the grant takes hold at their first launch
    launch(browser, moodle, "learner1")
    rid = request_id(ask(browser, app))
    assert wait_for(lambda: len(mails_to(smtp, "als1@example.test")) == 1)
    mail = mails_to(smtp, "als1@example.test")[0]
    assert mail["Subject"] == "New request: Lena Learner asks to use Microsoft Copilot"
    assert "Lena Learner (CIPD L5 People Practice) has asked to use Microsoft Copilot" \
        in body(mail)
    link = link_in(mail)

    # Opened from the mail program: no session, so the tool asks for a launch from Moodle...
    with FormBrowser() as outside:
        page = outside.open(link)
        assert page.status_code == 200
        assert "Open this page from Moodle" in text(page)
        assert "Open the AI use activity in any of your Moodle courses" in text(page)
        # ...and that launch (any AIU activity) lands on the request, not the dashboard.
        landed = launch(outside, moodle, "als1")
        assert landed.status_code == 200 and landed.url.endswith(f"/als/requests/{rid}")
        assert "Lena Learner asks to use Microsoft Copilot" in text(landed)
        # Only once: the next launch lands as usual.
        again = launch(outside, moodle, "als1")
        assert "/als/requests/" not in again.url

    # With the session already open, the link opens the page straight away.
    direct = second_browser.open(link)
    assert direct.url.endswith(f"/als/requests/{rid}") and direct.status_code == 200
    queue = second_browser.open(base(app) + "/als/")
    assert "Review queue 1 waiting for the ALS team" in text(queue)
    assert "Waiting for the ALS team (1)" in text(queue)

    decide(second_browser, app, rid, {"outcome": "more_info", "question": "Which plan?"})
    assert wait_for(lambda: len(mails_to(smtp, "learner1@example.test")) == 1)
    question = mails_to(smtp, "learner1@example.test")[0]
    with FormBrowser() as outside:
        page = outside.open(link_in(question))
        # The learner's request came from an activity: the page names it, with Moodle's link.
        assert f'href="{moodle.issuer}/mod/lti/view.php?l=' in page.text
        landed = launch(outside, moodle, "learner1")
        assert landed.url.endswith(f"/requests/{rid}") and "Which plan?" in text(landed)
        fill(outside, landed, f"/requests/{rid}/answer", {"answer": "Plan SP-12."})
    assert wait_for(lambda: len(mails_to(smtp, "als1@example.test")) == 2)
    answered = mails_to(smtp, "als1@example.test")[1]
    assert "Lena Learner answered your question about Microsoft Copilot" in answered["Subject"]
    assert second_browser.open(link_in(answered)).url.endswith(f"/als/requests/{rid}")


def test_a_member_who_chose_the_daily_digest_gets_one_email_a_day(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser,
        second_browser: FormBrowser, grant_als: Any, smtp: SmtpSink) -> None:
    grant_als("6")
    queue = launch(second_browser, moodle, "als1")
    queue = second_browser.open(base(app) + "/als/")
    saved = fill(second_browser, queue, "/als/notifications", {"frequency": "daily"})
    assert "Saved: you will get one email a day." in text(saved)
    launch(browser, moodle, "learner1")
    first = request_id(ask(browser, app))
    second = request_id(ask(browser, app, tool_name="Grammarly"))
    with app.app_context():
        # Nothing sent: two lines wait for the digest.
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DigestItem)) == 2
        assert send_digests(utcnow()) == 0  # today's digest time has not come for them
        tomorrow = utcnow().replace(hour=app.config["DIGEST_HOUR"], minute=30) \
            + timedelta(days=1)
        assert send_digests(tomorrow) == 1
        assert send_digests(tomorrow) == 0  # each line goes once
        deliver_due()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DigestItem)
                                 .where(DigestItem.sent_at.is_(None))) == 0
    assert wait_for(lambda: len(mails_to(smtp, "als1@example.test")) == 1)
    digest = mails_to(smtp, "als1@example.test")[0]
    assert digest["Subject"] == "AIU daily summary: 2 new items"
    assert "Lena Learner (CIPD L5 People Practice) asks to use Microsoft Copilot" in body(digest)
    links = _LINK.findall(body(digest))
    assert len(links) == 2
    assert second_browser.open(links[0]).url.endswith(f"/als/requests/{first}")
    assert second_browser.open(links[1]).url.endswith(f"/als/requests/{second}")
