"""Words on the staff screens (issue 12, item 6): the activity's own title everywhere (never
Moodle's placeholder once the tool has one), one heading per page, the policy's wording for
uses, human labels in the CSV, and no internal code shown on any page or export."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from tests.declarations.test_declarations import GOOD
from tests.support.browser import FormBrowser, launch
from tests.support.pages import post_form, text
from tests.support.vocabulary import codes_in_csv, codes_in_html

PLACEHOLDER = "Sample Tool Activity"


def test_titles_labels_and_no_internal_codes(app: Flask, registered: Any, moodle: Any,
                                             browser: FormBrowser) -> None:
    base = app.config["BASE_URL"]
    seeded = min((a for a in moodle.activities.values() if a.course_id == 2),
                 key=lambda a: a.id)
    assert seeded.title == PLACEHOLDER
    # The first teacher gives the activity its title in the tool.
    form = launch(browser, moodle, "marker1", seeded.id)
    assert "/settings" in form.url, form.url
    dashboard = post_form(browser, form, {
        "title": "Unit 2 declaration", "assignment_name": "Unit 2 assignment",
        "qualification": "CIPD", "permitted_uses": ["reading", "planning", "criteria"],
        "guidance": ""})
    assert dashboard.status_code == 200, dashboard.text
    placement_url = re.search(r"/staff/placements/\d+", dashboard.url)
    assert placement_url

    with FormBrowser() as learner:
        page = launch(learner, moodle, "learner1", seeded.id)
        assert page.text.count("<h1") == 1 and "AI use:" not in text(page)
        declared = post_form(learner, learner.open(page.url.rstrip("/") + "/declare"),
                             {**GOOD, "permitted_uses": ["planning"]})
        assert declared.status_code == 200, declared.text
        learner_pages = [page, declared]

    dashboard = browser.open(base + placement_url.group(0))
    # Every roster member has a panel now: search for the learner who declared.
    found = browser.open(base + placement_url.group(0) + "?q=learner1%40example.test")
    learner_link = re.search(r'href="(/staff/placements/\d+/learners/\d+)"', found.text)
    assert learner_link
    panel = browser.open(base + learner_link.group(1))
    staff_pages = [dashboard, panel, browser.open(base + placement_url.group(0) + "/analytics"),
                   browser.open(base + placement_url.group(0) + "/settings"),
                   browser.open(panel.url + "/incidents/new")]
    for shown in staff_pages:
        assert shown.status_code == 200, shown.url
        assert "Unit 2 declaration" in text(shown) or "Unit 2 assignment" in text(shown), (
            shown.url)
        assert PLACEHOLDER not in shown.text, shown.url
        assert len(re.findall(r"<h1[ >]", shown.text)) == 1, shown.url
    # The learner's use in the policy's words, not its key.
    assert "Planning an assignment layout." in text(panel)
    assert "For: planning" not in text(panel)

    export = browser.open(base + placement_url.group(0) + "/declarations.csv")
    assert export.status_code == 200
    (lena,) = [row for row in export.text.splitlines() if "Lena" in row]
    assert ",Declared," in lena and "Planning an assignment layout." in lena
    assert ",Not declared," in export.text
    assert codes_in_csv(export.text) == set()
    for shown in [*staff_pages, *learner_pages]:
        assert codes_in_html(shown.text) == set(), shown.url


def test_the_scan_finds_codes_shown_as_text() -> None:
    assert codes_in_html("<p>reference answer_link_used</p>") == {"answer_link_used"}
    assert codes_in_html("<table><tr><td>planning</td></tr></table>") == {"planning"}
    assert codes_in_html('<p>Ref <span class="reference">answer_link_used</span></p>') == set()
    assert codes_in_html('<input name="permitted_uses" value="planning">') == set()
    assert codes_in_csv("Status,Uses\ncurrent,planning\n") == {"current", "planning"}
