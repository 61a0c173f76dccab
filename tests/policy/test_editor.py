"""The policy editor through whole launches: a tool administrator starts a draft from the
published version, edits it in forms (never raw JSON), previews the learner's card and the
declaration, compares it with the published version, publishes it and downloads it; a
policy owner may do the same, nobody else; published versions never change."""

from __future__ import annotations

import json
import re
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.policy import service as policies
from lti_tool.policy.models import PolicyVersion
from lti_tool.roles import service as roles
from lti_tool.roles.models import POLICY_OWNER
from tests.conftest import row_counts
from tests.declarations.test_declarations import declare, deep_link
from tests.support.browser import FormBrowser, launch
from tests.support.pages import fill, text

NEW_TIMING = "AI should only be used before starting your assignment, and never in an exam."
NEW_USE = "Making a revision timetable."


def _versions(app: Flask) -> dict[str, tuple[str, str]]:
    with app.app_context():
        return {v.version: (v.status, v.content_hash) for v in policies.versions()}


def _start_draft(app: Flask, browser: FormBrowser) -> requests.Response:
    base = app.config["BASE_URL"]
    index = browser.open(base + "/admin/policies/")
    assert index.status_code == 200 and "AIU v1.0" in text(index)
    (link,) = re.findall(r'href="([^"]*/admin/policies/\d+)"', index.text)
    published = browser.open(link if link.startswith("http") else base + link)
    assert "Published: learners declare under this version" in text(published)
    assert "Edit this draft" not in text(published)  # a published version never changes
    taken = fill(browser, published, "/drafts", {"version": "1.0"})
    assert taken.status_code == 400 and "AIU v1.0 already exists" in text(taken)
    draft = fill(browser, published, "/drafts", {"version": "1.1"})
    assert draft.status_code == 200 and "Draft AIU v1.1 started from AIU v1.0" in text(draft)
    return draft


def _section(browser: FormBrowser, draft: requests.Response, name: str) -> requests.Response:
    match = re.search(rf'href="([^"]*/edit/{name})"', draft.text)
    assert match, name
    page = browser.open(match.group(1) if match.group(1).startswith("http")
                        else draft.url.split("/admin/", 1)[0] + match.group(1))
    assert page.status_code == 200, page.text
    return page


def test_draft_preview_compare_publish_round_trip(app: Flask, registered: Any, moodle: Any,
                                                 browser: FormBrowser) -> None:
    with FormBrowser() as teacher:
        activity = deep_link(teacher, moodle)
    with FormBrowser() as learner:
        declare(learner, moodle, activity.id)
    launch(browser, moodle, "admin")
    draft = _start_draft(app, browser)
    assert "Draft: not yet seen by learners" in text(draft)

    # Unchanged, every section saves as it was: the forms carry the whole format.
    before = _versions(app)["1.1"]
    for name in ("document", "statement", "uses", "integrity", "stages", "outcomes", "bodies",
                 "process", "contacts", "declaration", "comprehension"):
        page = _section(browser, draft, name)
        assert '{"' not in page.text  # forms, not raw JSON
        saved = fill(browser, page, "/edit/", {})
        assert saved.status_code == 200 and "Nothing changed." in text(saved), name
    assert _versions(app)["1.1"] == before

    # An edit: a new timing rule and a permitted use added in the blank row.
    uses = _section(browser, draft, "uses")
    assert 'name="permitted_uses.count" value="4"' in uses.text  # three and a blank one
    saved = fill(browser, uses, "/edit/", {
        "timing_rule": NEW_TIMING, "permitted_uses[3].key": "timetable",
        "permitted_uses[3].text": NEW_USE})
    assert "Saved." in text(saved)

    # A schema error names the field, shows it beside the input, and saves nothing.
    stages = _section(browser, draft, "stages")
    counts = row_counts(app)
    saved_hash = _versions(app)["1.1"]
    refused = fill(browser, stages, "/edit/", {"stages[1].text": " "}, follow=False)
    assert refused.status_code == 400
    assert "stages[1].text: required field is missing" in text(refused)
    again = fill(browser, stages, "/edit/", {"stages[2].outcomes": "caution"}, follow=False)
    assert again.status_code == 400
    assert "stages[2].outcomes[0]: 'caution' is not one of the outcomes" in text(again)
    assert 'id="f-stages-1--text"' in refused.text and "field-error" in refused.text
    assert row_counts(app) == counts and _versions(app)["1.1"] == saved_hash

    # The previews: the card and the declaration as learners will see them.
    card = browser.open(draft.url + "/preview")
    assert NEW_TIMING in card.text and NEW_USE in card.text
    assert 'class="card policy-card"' in card.text and "Stage 3:" in card.text
    declaration = browser.open(draft.url + "/preview/declaration")
    assert declaration.status_code == 200
    assert f"says: “{NEW_TIMING}”" in declaration.text
    assert 'value="timetable"' in declaration.text
    assert "Submit my declaration" in declaration.text

    # The comparison, by section.
    compare = browser.open(draft.url + "/compare")
    shown = text(compare)
    assert "AIU v1.1 compared with AIU v1.0" in shown
    assert "Permitted and prohibited uses learners read this" in shown
    assert "timing_rule" in shown and "permitted_uses[3].text" in shown
    assert "Document control" in shown and "version" in shown
    assert "Misuse and stages" not in shown  # the refused edit left no trace

    published = fill(browser, compare, "/publish", {})
    assert ("Published AIU v1.1. Learners who declared under an earlier version are asked to "
            "declare again: what changed for them: Permitted and prohibited uses.") in text(
        published)
    assert {k: v[0] for k, v in _versions(app).items()} == {"1.0": "retired",
                                                           "1.1": "published"}
    # Published: never changes.
    edit_url = draft.url + "/edit/uses"
    assert browser.open(edit_url).status_code == 404
    with app.app_context():
        row = db.session.scalar(sa.select(PolicyVersion).where(PolicyVersion.version == "1.1"))
        assert row is not None
        try:
            policies.save_draft(row, json.loads(row.content), "test")
        except policies.PolicyError as exc:
            assert "a published version never changes" in str(exc)
        else:
            raise AssertionError("a published version was changed")

    downloaded = browser.open(draft.url + "/download")
    assert "attachment" in downloaded.headers["Content-Disposition"]
    data = policies.validate_content(json.loads(downloaded.text))
    assert data["version"] == "1.1" and data["timing_rule"] == NEW_TIMING

    # Learners see it and are asked to declare again.
    with FormBrowser() as learner:
        page = launch(learner, moodle, "learner1", activity.id)
        assert NEW_TIMING in page.text and "please declare again" in page.text
        assert "What has changed: Permitted and prohibited uses." in text(page)


def test_schema_errors_name_the_field_in_the_editor(app: Flask, registered: Any,
                                                   moodle: Any, browser: FormBrowser) -> None:
    launch(browser, moodle, "admin")
    with app.app_context():
        policies.current_or_bundled()
        db.session.commit()
    draft = _start_draft(app, browser)
    process = _section(browser, draft, "process")
    refused = fill(browser, process, "/edit/", {"case_process.appeal_window_days": "two",
                                                "counting.scope": "course"}, follow=False)
    assert refused.status_code == 400
    shown = text(refused)
    assert "case_process.appeal_window_days: must be a whole number" in shown
    assert 'counting.scope: must be one of "platform", "qualification"' in shown
    bodies = _section(browser, draft, "bodies")
    refused = fill(browser, bodies, "/edit/", {"awarding_bodies[0].name": ""}, follow=False)
    assert refused.status_code == 400
    assert "awarding_bodies[0].name: required field is missing" in text(refused)


def test_policy_owners_may_edit_and_others_may_not(app: Flask, registered: Any, moodle: Any,
                                                  runner: Any) -> None:
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1")
        base = app.config["BASE_URL"]
        assert learner.open(base + "/admin/policies/").status_code == 403
        with app.app_context():
            person = db.session.scalar(sa.select(Person).where(Person.username == "learner1"))
            assert person is not None
            sub, platform_id = person.sub, person.platform_id
        granted = runner.invoke(args=["roles", "grant-policy-owner", "--platform",
                                      str(platform_id), "--user-id", sub])
        assert granted.exit_code == 0 and "a policy owner" in granted.output
        page = learner.open(base + "/admin/policies/")
        assert page.status_code == 200 and "Policies" in text(page)
        with app.app_context():
            person = db.session.get(Person, person.id)
            assert person is not None and roles.holds(person, POLICY_OWNER)
    with FormBrowser() as marker:
        launch(marker, moodle, "marker1")
        refused = marker.open(app.config["BASE_URL"] + "/admin/policies/")
        assert refused.status_code == 403
        assert "policy owners" in text(refused)
