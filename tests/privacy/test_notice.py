"""The privacy notice: built from the configuration (controller, contact, the retention
schedule in force), linked from every page's footer and from the AI-tool request form."""

from __future__ import annotations

from html import unescape
from typing import Any

from flask import Flask

from tests.support.browser import FormBrowser, launch
from tests.support.pages import text


def test_the_notice_comes_from_configuration(app: Flask, client: Any) -> None:
    app.config.update(PRIVACY_CONTROLLER="Example College", PRIVACY_CONTACT="dpo@college.test",
                      RETENTION={"case_not_upheld": "2 years"})
    page = client.get("/privacy/")
    assert page.status_code == 200
    body = unescape(" ".join(page.get_data(as_text=True).split()))
    for words in ("Example College is the controller", "dpo@college.test", "Who sees what",
                  "The lawful basis", "Your rights",
                  "Incidents (cases) not upheld</dt><dd>Deleted 2 years after the case's last "
                  "action", "Sessions in the tool</dt><dd>Deleted 8 hours"):
        assert words in body, words
    assert "/privacy/my-data" not in body  # no launch: nothing to download


def test_every_page_and_the_request_form_link_to_it(app: Flask, registered: Any, moodle: Any,
                                                     client: Any) -> None:
    from tests.declarations.test_declarations import deep_link

    with FormBrowser() as teacher:
        activity = deep_link(teacher, moodle)
        assert "How AIU uses your information" in teacher.open(
            app.config["BASE_URL"] + "/staff/placements/1").text
    with FormBrowser() as learner:
        landing = launch(learner, moodle, "learner1", activity.id)
        assert "How AIU uses your information (privacy notice)" in text(landing)
        form = learner.open(app.config["BASE_URL"] + "/requests/new")
        assert "seen by the ALS team only: how AIU uses your information" in text(form)
        notice = learner.open(app.config["BASE_URL"] + "/privacy/")
        assert notice.status_code == 200 and "Download my data" in text(notice)
    assert "privacy notice" in client.get("/").get_data(as_text=True)
    assert "privacy notice" in client.get("/no-such-page").get_data(as_text=True)
