"""The screens a second policy changes, in a real Chromium inside the Moodle stand-in's
iframe: under the JCQ example (four stages, per qualification, reporting on suspicion) the
reporting queue with its "record as reported" form, the incident page offering the Stage 2
outcomes, and the learner's cases with their stage out of four: nothing scrolls sideways at
320, 390 or 1280 px, axe-core finds no serious issue, no internal code is shown."""

from __future__ import annotations

from typing import Any

from flask import Flask

from lti_tool.extensions import db
from lti_tool.roles import service as roles
from lti_tool.roles.models import ALS
from tests.cases.flows import decide, declare_jcq, incident_url, jcq_activity, panel, record
from tests.support.browser import FormBrowser, launch
from tests.support.pages import platform_id, post_form
from tests.test_accessibility import tool_frame
from tests.test_screens_in_chromium import ARTIFACTS, check_screen


def test_screens_under_a_four_stage_policy(app: Flask, jcq: None,
                                           moodle: Any, chromium: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pearson = jcq_activity(moodle, "PEARSON")
    declare_jcq(moodle, pearson.id)
    with app.app_context():
        for sub in ("2", "6"):  # the admin and als1
            roles.grant(platform_id(app), ALS, actor="test", sub=sub)
        db.session.commit()
    with FormBrowser() as learner:
        page = launch(learner, moodle, "learner1", pearson.id)
        post_form(learner, learner.open(page.url + "/authenticate"),
                  {"confirmed": "y", "signature": "Lena Learner"})
    with FormBrowser() as marker1:
        first = incident_url(record(marker1, panel(marker1, moodle, "marker1", pearson.id,
                                                   "learner1")))
        assert decide(marker1, first, without_answer="y").status_code == 200
        second = incident_url(record(marker1, panel(marker1, moodle, "marker1", pearson.id,
                                                    "learner1")))
    base = app.config["BASE_URL"]
    problems: list[str] = []
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(moodle.url(f"/mod/lti/view.php?id={pearson.cmid}&as=admin"))
    frame = tool_frame(page, base)
    for name, url in {"jcq-reporting-queue": base + "/reporting/",
                      "jcq-incident-stage-2": second}.items():
        page.set_viewport_size({"width": 1280, "height": 900})
        answer = frame.goto(url)
        assert answer is not None and answer.status == 200, (name, url)
        check_screen(page, frame, name, problems)
    frame.goto(base + "/reporting/")
    assert "Record it as reported" in frame.content()
    frame.goto(second)
    assert "Attend an interview with the Exams Officer" in frame.content()
    context.close()

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(moodle.url(f"/mod/lti/view.php?id={pearson.cmid}&as=learner1"))
    frame = tool_frame(page, base)
    answer = frame.goto(base + "/learner/cases")
    assert answer is not None and answer.status == 200
    check_screen(page, frame, "jcq-learner-cases", problems)
    assert "Stage 1 of 4" in frame.content()
    context.close()
    assert problems == [], "\n".join(problems)
