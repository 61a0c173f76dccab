"""Staff see what a learner wants an AI tool for, never why they need it: with a request
decided and written into a declaration, every staff page and staff download of the course
is read for the learner's reasons (tests/support/privacy_scan.py also reads every staff
response of the whole run)."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from tests.cases.flows import incident_url, record
from tests.declarations.test_declarations import GOOD, declare, deep_link
from tests.requests.conftest import A_REQUEST, AN_APPROVAL, ask, decide, request_id
from tests.support import privacy_scan
from tests.support.browser import FormBrowser, launch
from tests.support.pages import text


def test_no_staff_page_or_export_shows_a_reason(app: Flask, registered: Any, moodle: Any,
                                                browser: FormBrowser,
                                                second_browser: FormBrowser,
                                                grant_als: Any) -> None:
    grant_als("6")
    with FormBrowser() as teacher:
        activity = deep_link(teacher, moodle)
    launch(second_browser, moodle, "als1")
    launch(browser, moodle, "learner1", activity.id)
    rid = request_id(ask(browser, app))
    als = decide(second_browser, app, rid, AN_APPROVAL)
    assert A_REQUEST["reason_detail"] in text(als)  # the ALS team reads the reasons
    with FormBrowser() as learner:
        declared = declare(learner, moodle, activity.id, fields=GOOD)
        assert declared.status_code == 200

    with FormBrowser() as marker:
        dashboard = launch(marker, moodle, "marker1", activity.id)
        root = dashboard.url.split("?")[0]
        panel = re.search(r'href="([^"]*/learners/\d+)"', dashboard.text)
        assert panel
        panel_url = dashboard.url.split("/staff/")[0] + panel.group(1)[
            panel.group(1).index("/staff/"):]
        course = re.search(r'href="([^"]*/staff/requests/courses/\d+)"', dashboard.text)
        assert course
        requests_url = dashboard.url.split("/staff/")[0] + course.group(1)[
            course.group(1).index("/staff/"):]
        incident = incident_url(record(marker, marker.open(panel_url)))
        pages = [root, root + "/declarations.csv", root + "/analytics",
                 root + "/analytics-months.csv", root + "/analytics-courses.csv",
                 root + "/analytics-activities.csv", root + "/settings", panel_url,
                 panel_url + "/incidents/new", panel_url + "/report.csv", incident,
                 requests_url, f"{requests_url}/{rid}"]
        before = len(privacy_scan.scanned)
        for url in pages:
            page = marker.open(url)
            assert page.status_code in (200, 403), (url, page.status_code)
            for reason in privacy_scan.KNOWN_REASONS:
                assert reason not in page.text, (url, reason)
        detail = marker.open(f"{requests_url}/{rid}")
        assert A_REQUEST["purpose"] in text(detail)  # the purpose is for staff
        assert "Microsoft Copilot" in text(marker.open(root))  # the authorisation shows
    assert len(privacy_scan.scanned) - before >= len(pages)
