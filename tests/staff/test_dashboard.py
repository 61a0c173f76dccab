"""The course dashboard at real size and for the whole roster: search by name or email,
pages of 50 that keep the filters and sort in the address, the same number of queries for
200 or 2,000 learners; a panel and an incident for a roster learner who never opened the
tool; a reminder to the learners shown who have not declared, at most once a day."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from flask import Flask

from bench.bench_dashboard import seed, set_up_course
from lti_tool.cases.models import Incident
from lti_tool.extensions import db
from lti_tool.people.models import CourseMember, Person
from tests.cases.flows import record
from tests.conftest import SmtpSink
from tests.notifications.test_als_notifications import body
from tests.support.browser import FormBrowser, launch
from tests.support.pages import fill, text, wait_for

_NAME = re.compile(r"Learner \d{5}")


def _pages(app: Flask) -> int:
    with app.app_context():
        learners = int(db.session.scalar(sa.select(sa.func.count()).select_from(CourseMember)
                                         .where(CourseMember.is_learner.is_(True))) or 0)
    return (learners + 49) // 50


def _statements(app: Flask, browser: FormBrowser, url: str) -> tuple[int, str]:
    found: list[str] = []

    def count(*_: Any) -> None:
        found.append("")

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        page = browser.open(url)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert page.status_code == 200, page.text
    return len(found), page.text


def test_search_and_pages_with_a_constant_number_of_queries(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser) -> None:
    ids, dashboard = set_up_course(app, moodle, browser)
    base = dashboard.split("?", 1)[0]
    page_two = base + "?declaration=all&incidents=all&sort=name&order=asc&page=2"
    search = base + "?q=LEARNER1234%40example&sort=name&order=asc"
    seed(app, ids, 0, 200)
    browser.open(page_two)  # warm: templates compiled, caches filled
    small, html = _statements(app, browser, page_two)
    # By name: Moodle's own learners first ("Alex Support"...), then the seeded ones.
    second = set(_NAME.findall(html))
    assert len(second) == 50 and "Learner 00000" not in second
    assert f"page 2 of {_pages(app)}" in text(browser.open(page_two))
    seed(app, ids, 200, 2000)
    # Warm again: seeding can outlast the per-process registration cache (30 s), whose
    # reload is one statement that has nothing to do with the number of learners.
    browser.open(page_two)
    large, html = _statements(app, browser, page_two)
    assert large == small, f"{small} statements for 200 learners, {large} for 2,000"
    assert set(_NAME.findall(html)) == second
    assert f"page 2 of {_pages(app)}" in text(browser.open(page_two))
    # Links to the other pages keep the sort and filters.
    nxt = re.search(r'<a href="([^"]+)" rel="next"', html)
    assert nxt
    query = parse_qs(urlsplit(nxt.group(1).replace("&amp;", "&")).query)
    assert query["page"] == ["3"] and query["sort"] == ["name"] and query["order"] == ["asc"]

    searched, html = _statements(app, browser, search)  # by email, any case
    assert set(_NAME.findall(html)) == {"Learner 01234"}
    assert searched <= large
    by_name = browser.open(base + "?q=learner+0199")
    assert set(_NAME.findall(by_name.text)) == {f"Learner 0199{n}" for n in range(10)}
    beyond = browser.open(base + "?page=999")  # past the end: the last page
    assert f"page {_pages(app)} of {_pages(app)}" in text(beyond)


def test_roster_learner_has_a_panel_an_incident_and_a_reminder_before_any_launch(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser,
        smtp: SmtpSink) -> None:
    from tests.declarations.test_declarations import deep_link

    with FormBrowser() as teacher:
        activity = deep_link(teacher, moodle)
    dashboard = launch(browser, moodle, "marker1", activity.id)  # reads Moodle's roster
    with app.app_context():
        liam = db.session.scalar(sa.select(Person).where(Person.sub == "4"))
        assert liam is not None and liam.first_launch_at is None  # never opened the tool
        liam_id = liam.id
    assert "Liam Learnwell" in text(dashboard)
    panel_url = re.search(rf'href="([^"]*/learners/{liam_id})"', dashboard.text)
    assert panel_url, "no panel link for a learner who never launched"
    panel = browser.open(panel_url.group(1) if panel_url.group(1).startswith("http")
                         else dashboard.url.split("/staff/")[0] + panel_url.group(1)[
                             panel_url.group(1).index("/staff/"):])
    assert panel.status_code == 200 and "Liam Learnwell" in text(panel)
    recorded = record(browser, panel)
    assert recorded.status_code == 200, recorded.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)
                                 .where(Incident.learner_id == liam_id)) == 1
    assert wait_for(lambda: any(m["To"] == "learner2@example.test" for m in smtp.messages))

    # Remind those shown who have not declared: Liam (and learner1) once, not twice a day.
    shown = browser.open(dashboard.url.split("?")[0] + "?declaration=not-declared&q=liam")
    assert "Email a reminder to the 1 learner shown who has not declared" in text(shown)
    sent = fill(browser, shown, "/reminders", {})
    assert "Reminder emailed to 1 learner." in text(sent)
    assert "q=liam" in sent.url and "declaration=not-declared" in sent.url
    assert wait_for(lambda: any(m["Subject"].startswith("Reminder: make your AI use")
                                for m in smtp.messages))
    reminder = next(m for m in smtp.messages if m["Subject"].startswith("Reminder"))
    assert reminder["To"] == "learner2@example.test"
    assert "/open/" in body(reminder)
    again = fill(browser, browser.open(sent.url), "/reminders", {})
    assert "Reminder emailed to 0 learners. 1 had already been reminded today." in text(again)
