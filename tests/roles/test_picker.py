"""Administrators pick people the tool knows (launches and Moodle's rosters) by name, email
or Moodle user id; grants read "granted by <name> on <date>" (or "from the command line");
anything typed that is not a Moodle user id or one valid email address is refused."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskCliRunner

from tests.conftest import row_counts
from tests.support.browser import FormBrowser, launch
from tests.support.pages import fill, platform_id, post_form, text


def test_pick_a_known_person_and_read_who_granted(app: Flask, registered: Any, moodle: Any,
                                                  browser: FormBrowser,
                                                  runner: FlaskCliRunner) -> None:
    base = app.config["BASE_URL"]
    with FormBrowser() as learner:
        launch(learner, moodle, "learner1")  # the tool knows Lena from her launch
    launch(browser, moodle, "admin")
    found = browser.open(base + "/admin/roles?find=LENA")
    assert "1 person found" in text(found)
    assert "Lena Learner" in text(found) and "Moodle user 3" in text(found)
    assert "CIPD L5 People Practice" in text(found)
    nobody = browser.open(base + "/admin/roles?find=zebra")
    assert "No one the tool knows matches" in text(nobody)

    done = post_form(browser, found, {"role": "als", "person_id": _person_field(found)},
                     action=base + "/admin/roles")
    assert "Lena Learner is now an ALS team member" in text(done)
    assert "granted by Admin User on " in text(done)
    assert "person:" not in done.text

    result = runner.invoke(args=["roles", "grant-admin", "--platform", str(platform_id(app)),
                                 "--user-id", "7"])
    assert result.exit_code == 0, result.output
    page = browser.open(base + "/admin/roles")
    assert "granted from the command line on " in text(page)
    assert "cli:" not in page.text


def _person_field(page: Any) -> str:
    import re

    found = re.search(r'name="person_id" value="(\d+)"', page.text)
    assert found
    return found.group(1)


def test_only_a_user_id_or_one_valid_address(app: Flask, registered: Any, moodle: Any,
                                             browser: FormBrowser) -> None:
    launch(browser, moodle, "admin")
    page = browser.open(app.config["BASE_URL"] + "/admin/roles")
    before = row_counts(app)
    for typed in ("not an email", "a@college.ac.uk, b@college.ac.uk", "Lena <l@college.ac.uk>",
                  "l@@college"):
        refused = fill(browser, page, "/admin/roles", {"role": "als", "who": typed},
                       follow=False)
        assert refused.status_code == 400, typed
        assert "There is a problem" in text(refused)
    assert {t: n for t, n in row_counts(app).items() if t != "web_session"} == {
        t: n for t, n in before.items() if t != "web_session"}
