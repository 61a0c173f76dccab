"""Grants the tool holds are safe to make: a grant by email never attaches itself to whoever
launches with that address (an administrator confirms who it is), addresses are checked
when a grant is made, parallel grants make one active grant, and revoking a role ends every
active grant of it for that person. The parallel tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.roles.models import RoleGrant, RoleRevocation
from tests.conftest import row_counts
from tests.support.browser import FormBrowser, launch
from tests.support.pages import confirm, fill, text

NEWCOMER = "als.newcomer@example.test"


def _roles_page(app: Flask, browser: FormBrowser) -> requests.Response:
    page = browser.open(app.config["BASE_URL"] + "/admin/roles")
    assert page.status_code == 200
    return page


def _active(app: Flask) -> list[tuple[str, int | None, str | None, str | None]]:
    with app.app_context():
        rows = db.session.execute(sa.select(RoleGrant.role, RoleGrant.person_id,
                                            RoleGrant.sub, RoleGrant.email)
                                  .where(RoleGrant.revoked_at.is_(None))).all()
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _pid(app: Flask, sub: str) -> int:
    with app.app_context():
        found = db.session.scalar(sa.select(Person.id).where(Person.sub == sub))
        assert found is not None
        return int(found)


def test_an_email_grant_waits_for_an_admin_to_confirm_who_it_is(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser) -> None:
    base = app.config["BASE_URL"]
    launch(browser, moodle, "admin")
    with FormBrowser() as learner2:
        launch(learner2, moodle, "learner2")  # known to the tool under their own address
    fill(browser, _roles_page(app, browser), "/admin/roles", {"role": "als", "who": NEWCOMER})

    # A learner sets their Moodle email to the unused address and launches: nothing.
    with moodle.lock:
        moodle.user("learner2").email = NEWCOMER
    with FormBrowser() as learner2:
        landing = launch(learner2, moodle, "learner2")
        assert "Review queue" not in text(landing)
        refused = learner2.open(base + "/als/")
        assert refused.status_code == 403
        assert "This page is for the ALS team" in text(refused)
    assert _active(app) == [("als", None, None, NEWCOMER)]

    # The admin sees who launched with the address and does not confirm them; the person
    # meant (a newcomer to the tool) launches with it too.
    newcomer = moodle.add_user("newcomer", "Nina", "Newcomer", email=NEWCOMER)
    moodle.enrol(2, newcomer.username, "teacher")
    with FormBrowser() as nina:
        landing = launch(nina, moodle, "newcomer")
        assert "Review queue" not in text(landing)
        page = _roles_page(app, browser)
        assert (f"{NEWCOMER} first opened the tool as Liam Learnwell (Moodle user 4)"
                in text(page))
        assert f"{NEWCOMER} first opened the tool as Nina Newcomer (Moodle user {newcomer.id})" \
            in text(page)
        # A confirmation naming someone whose address is not the grant's is refused.
        before = row_counts(app)
        forged = fill(browser, page, "/confirm", {"person_id": str(_pid(app, "2"))})
        assert "no longer waiting for this person" in text(forged)
        assert row_counts(app) == before
        done = fill(browser, _roles_page(app, browser), "/confirm",
                    {"person_id": str(_pid(app, str(newcomer.id)))})
        assert "Nina Newcomer is now an ALS team member" in text(done)
        assert nina.open(base + "/als/").status_code == 200
    with FormBrowser() as learner2:
        launch(learner2, moodle, "learner2")
        assert learner2.open(base + "/als/").status_code == 403


def test_grant_addresses_are_checked(app: Flask, registered: Any, moodle: Any,
                                     browser: FormBrowser) -> None:
    launch(browser, moodle, "admin")
    page = _roles_page(app, browser)
    before = row_counts(app)
    for bad in ("a@example.test, b@example.test", "a@example.test\r\nBcc: b@example.test",
                "Alex <a@example.test>", "a@@example.test", "a@example.test;b@example.test"):
        refused = fill(browser, page, "/admin/roles", {"role": "als", "who": bad},
                       follow=False)
        assert refused.status_code == 400, bad
        assert "not one valid email address" in text(refused), bad
    assert row_counts(app) == before


def _in_parallel(n: int, work: Any) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_parallel_grants_make_one_grant_and_revoking_ends_the_role(
        app: Flask, registered: Any, moodle: Any) -> None:
    base = app.config["BASE_URL"]
    with FormBrowser() as als1:
        launch(als1, moodle, "als1")  # known to the tool
    admins = [FormBrowser() for _ in range(12)]
    try:
        for admin in admins:
            launch(admin, moodle, "admin")
        for who in ("6", NEWCOMER):
            pages = [_roles_page(app, a) for a in admins]
            answers = _in_parallel(12, lambda i, who=who, pages=pages: fill(
                admins[i], pages[i], "/admin/roles", {"role": "als", "who": who}))
            assert [a.status_code for a in answers] == [200] * 12, answers
            said = [text(a) for a in answers]
            assert sum("is now" in s or "will be" in s for s in said) == 1, said
            assert sum("already was" in s for s in said) == 11, said
        assert sorted(_active(app), key=str) == sorted(
            [("als", _pid(app, "6"), "6", None), ("als", None, None, NEWCOMER)], key=str)

        # A waiting grant naming als1's own address as well: revoking als1's role from the
        # page ends both, and two admins revoking at once is no error.
        page = fill(admins[0], _roles_page(app, admins[0]), "/admin/roles",
                    {"role": "als", "who": "als1@example.test"})
        assert len(_active(app)) == 3
        grant_id = re.search(r"/admin/roles/(\d+)/revoke", page.text)
        assert grant_id
        pages = [_roles_page(app, a) for a in admins[:2]]
        with app.app_context():
            als_grant = db.session.scalar(sa.select(RoleGrant.id).where(
                RoleGrant.sub == "6", RoleGrant.revoked_at.is_(None)))
        asked = [fill(admins[i], pages[i], f"/admin/roles/{als_grant}/revoke", {})
                 for i in range(2)]
        answers = _in_parallel(2, lambda i: confirm(admins[i], asked[i]))
        assert [a.status_code for a in answers] == [200, 200], answers
        said = [re.sub(r".*(Alex Support is no longer|That role was already)", r"\1",
                       text(a))[:60] for a in answers]
        assert sum("is no longer" in s for s in said) == 1, said
        assert _active(app) == [("als", None, None, NEWCOMER)]
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(
                RoleRevocation)) == 2
    finally:
        for admin in admins:
            admin.close()
    with FormBrowser() as als1:
        landing = launch(als1, moodle, "als1")
        assert "Review queue" not in text(landing)
        assert als1.open(base + "/als/").status_code == 403
