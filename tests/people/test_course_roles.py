"""Stored roles count only while Moodle confirms them: a Names and Roles refresh that no
longer lists someone ends their role (and their open session) at once, a role unconfirmed
for longer than the bound stops counting, and Moodle's listing of non-editing teachers as
learners does not cost them their staff pages."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.people.models import CourseRole, Person
from tests.support.browser import FormBrowser, launch
from tests.support.pages import post_form, text


def _refresh_roster(moodle: Any, marker: str = "marker1") -> None:
    with FormBrowser() as teacher:
        landing = launch(teacher, moodle, marker)  # the activity's settings, first time
        placement = re.match(r".*/staff/placements/\d+", landing.url)
        assert placement, landing.url
        done = post_form(teacher, landing, {}, action=placement.group(0) + "/roster")
        assert done.status_code == 200


def _age(app: Flask, sub: str, hours: float) -> None:
    """Move Moodle's last confirmation of the person's roles (and launch) back in time."""
    with app.app_context():
        person = db.session.scalar(sa.select(Person).where(Person.sub == sub))
        assert person is not None
        person.last_launch_at -= timedelta(hours=hours)
        for row in db.session.scalars(sa.select(CourseRole).where(
                CourseRole.person_id == person.id)):
            row.confirmed_at -= timedelta(hours=hours)
        db.session.commit()


def test_a_learner_dropped_by_the_roster_loses_their_pages(app: Flask, registered: Any,
                                                           moodle: Any) -> None:
    with FormBrowser() as learner2:
        landing = launch(learner2, moodle, "learner2")
        assert landing.status_code == 200
        moodle.unenrol(2, "learner2")
        assert learner2.open(landing.url).status_code == 200  # Moodle has not said yet
        _refresh_roster(moodle)
        refused = learner2.open(landing.url)
        assert refused.status_code == 403
        assert "Moodle no longer confirms your role in this course" in text(refused)


def test_a_non_editing_teacher_listed_as_learner_keeps_staff_pages(
        app: Flask, registered: Any, moodle: Any) -> None:
    with moodle.lock:
        moodle.user("als1").category_manager = False  # NRPS now lists als1 as Learner
    with FormBrowser() as als1:
        landing = launch(als1, moodle, "als1")
        assert "/staff/placements/" in landing.url
        _refresh_roster(moodle)
        assert als1.open(landing.url).status_code == 200


def test_a_site_administrator_unconfirmed_past_the_bound_is_not_an_administrator(
        app: Flask, registered: Any, moodle: Any) -> None:
    base = app.config["BASE_URL"]
    with FormBrowser() as admin:
        launch(admin, moodle, "admin")
        assert admin.open(base + "/admin/").status_code == 200
        _age(app, "2", float(app.config.get("COURSE_ROLE_MAX_AGE_HOURS", 8)) + 0.1)
        refused = admin.open(base + "/admin/")
        assert refused.status_code == 403
        launch(admin, moodle, "admin")  # Moodle confirms it again
        assert admin.open(base + "/admin/").status_code == 200
