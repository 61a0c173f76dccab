"""Whole launches over HTTP through the Moodle stand-in: OIDC login → auth.php → signed
id_token → the tool's launch → the page for the role. Every refusal is a 4xx that writes
nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from lti_tool.extensions import db
from lti_tool.lti.state import DatabaseStateStore, PendingLogin, digest
from lti_tool.people.models import Course, CourseRole, Person, Placement
from lti_tool.platforms.cache import row_cache
from lti_tool.platforms.models import Deployment, Platform
from tests.conftest import row_counts
from tests.support.browser import FormBrowser, launch, start_launch

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"


def test_learner_launch_lands_on_the_learner_page(app: Flask, registered: Any, moodle: Any,
                                                  browser: FormBrowser) -> None:
    page = launch(browser, moodle, "learner1")
    assert page.status_code == 200, page.text
    assert "/learner/placements/" in page.url
    assert "AI use in" in page.text
    assert "Lucy" in page.text or "learner1" in page.text or "Signed in" in page.text
    with app.app_context():
        person = db.session.scalar(sa.select(Person).where(Person.sub == "3"))
        assert person is not None and person.email == "learner1@example.test"
        course = db.session.scalar(sa.select(Course).where(Course.context_id == "2"))
        assert course is not None and course.label == "CIPD5"
        role = db.session.get(CourseRole, (person.id, course.id))
        assert role is not None and role.role == "learner"
        placement = db.session.scalar(sa.select(Placement))
        assert placement is not None and placement.lineitem_url
        platform = db.session.scalar(sa.select(Platform))
        assert platform is not None and platform.product_family_code == "moodle"


@pytest.mark.parametrize("username,landing", [
    ("marker1", "/staff/placements/"),
    ("als1", "/staff/placements/"),
    ("admin", "/staff/placements/"),
])
def test_staff_and_admin_launches(app: Flask, registered: Any, moodle: Any,
                                  browser: FormBrowser, username: str, landing: str) -> None:
    page = launch(browser, moodle, username)
    assert page.status_code == 200, page.text
    assert landing in page.url
    if username == "admin":
        assert "Tool administration" in page.text
        admin = browser.open(app.config["BASE_URL"] + "/admin/")
        assert admin.status_code == 200 and "Registered platforms" in admin.text


def test_login_initiation_by_get_works_too(app: Flask, registered: Any, moodle: Any,
                                           browser: FormBrowser) -> None:
    url, fields = moodle.login_initiation("learner1")
    page = browser.submit(url, fields, method="GET")
    assert page.status_code == 200, page.text
    assert "/learner/placements/" in page.url


def test_session_cookie_is_partitioned_and_new_on_every_launch(app: Flask, registered: Any,
                                                               moodle: Any,
                                                               browser: FormBrowser) -> None:
    launch(browser, moodle, "learner1")
    cookie = browser.cookie("aiu_session")
    assert cookie is not None and cookie.secure
    set_cookie = next(r.headers["Set-Cookie"] for r in browser.history
                      if "aiu_session=" in r.headers.get("Set-Cookie", ""))
    assert "SameSite=None" in set_cookie and "Secure" in set_cookie
    assert "Partitioned" in set_cookie and "HttpOnly" in set_cookie
    first = cookie.value
    launch(browser, moodle, "learner1")
    second = browser.cookie("aiu_session")
    assert second is not None and second.value != first


def _refused(app: Flask, browser: FormBrowser, moodle: Any, *, user: str = "learner1",
             fields: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
    """Run a launch up to the id_token, then post it (with ``fields`` replaced); return the
    tool's answer after checking that the refusal wrote nothing."""
    auth_page = start_launch(browser, moodle, user, **kwargs)
    assert browser.auto_form(auth_page) is not None, auth_page.text
    before = row_counts(app)
    answer = browser.follow(auth_page, fields=fields)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:500])
    assert row_counts(app) == before
    assert "Traceback" not in answer.text
    return answer


def _tamper(moodle: Any, fn: Callable[[dict[str, Any], dict[str, Any]], None]) -> None:
    moodle.tamper = fn


CLAIM_TAMPERING: list[tuple[str, Callable[[dict[str, Any], dict[str, Any]], None], str]] = [
    ("wrong issuer", lambda h, c: c.update(iss="https://evil.example"), "not registered"),
    ("wrong audience", lambda h, c: c.update(aud="someone-else"), "not registered"),
    ("audience list without azp",
     lambda h, c: c.update(aud=[c["aud"], "other-tool"]), "several audiences"),
    ("azp for another client",
     lambda h, c: c.update(aud=[c["aud"], "other"], azp="other"), "not registered"),
    ("azp not among the audiences", lambda h, c: c.update(azp="stranger"), "another tool"),
    ("expired", lambda h, c: c.update(iat=int(time.time()) - 600,
                                      exp=int(time.time()) - 60), "expired"),
    ("issued in the future", lambda h, c: c.update(iat=int(time.time()) + 300,
                                                   exp=int(time.time()) + 360), "future"),
    ("no exp", lambda h, c: c.pop("exp"), "missing"),
    ("wrong nonce", lambda h, c: c.update(nonce="not-the-one"), "does not match"),
    ("HS256", lambda h, c: h.update(alg="HS256"), "RS256"),
    ("alg none", lambda h, c: h.update(alg="none"), "RS256"),
    ("no kid", lambda h, c: h.pop("kid"), "names no key"),
    ("unknown kid", lambda h, c: h.update(kid="not-published"), "does not publish"),
    ("unknown deployment", lambda h, c: c.update({CLAIM + "deployment_id": "999"}),
     "not known"),
    ("wrong version", lambda h, c: c.update({CLAIM + "version": "1.1"}), "version"),
    ("unsupported message type",
     lambda h, c: c.update({CLAIM + "message_type": "LtiStartProctoring"}), "cannot open"),
    ("no sub", lambda h, c: c.pop("sub"), "anonymous"),
    ("foreign target_link_uri",
     lambda h, c: c.update({CLAIM + "target_link_uri": "https://evil.example/launch"}),
     "another site"),
    ("no resource link", lambda h, c: c.pop(CLAIM + "resource_link"), "incomplete"),
    ("no roles claim", lambda h, c: c.pop(CLAIM + "roles"), "role"),
]


@pytest.mark.parametrize("name,tamper,message", CLAIM_TAMPERING,
                         ids=[t[0] for t in CLAIM_TAMPERING])
def test_tampered_id_token_is_refused(app: Flask, registered: Any, moodle: Any,
                                      browser: FormBrowser, name: str,
                                      tamper: Callable[[dict[str, Any], dict[str, Any]], None],
                                      message: str) -> None:
    _tamper(moodle, tamper)
    answer = _refused(app, browser, moodle)
    assert message in answer.text


def test_signature_by_a_foreign_key_is_refused(app: Flask, registered: Any, moodle: Any,
                                               browser: FormBrowser) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    moodle.sign_with_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    answer = _refused(app, browser, moodle)
    assert "could not be verified" in answer.text


def test_garbled_id_token_is_refused(app: Flask, registered: Any, moodle: Any,
                                     browser: FormBrowser) -> None:
    answer = _refused(app, browser, moodle, fields={"id_token": "not.a.jwt"})
    assert "could not be read" in answer.text


def test_missing_state_is_refused(app: Flask, registered: Any, moodle: Any,
                                  browser: FormBrowser) -> None:
    answer = _refused(app, browser, moodle, fields={"state": ""})
    assert "incomplete" in answer.text


def test_unknown_state_is_refused(app: Flask, registered: Any, moodle: Any,
                                  browser: FormBrowser) -> None:
    answer = _refused(app, browser, moodle, fields={"state": "forged-state"})
    assert "expired or was already used" in answer.text


def test_state_from_another_browser_is_refused(app: Flask, registered: Any, moodle: Any,
                                               browser: FormBrowser) -> None:
    auth_page = start_launch(browser, moodle, "learner1")
    form = browser.auto_form(auth_page)
    assert form is not None
    before = row_counts(app)
    with FormBrowser() as attacker:
        answer = attacker.request("POST", form.action, data=dict(form.fields))
    assert answer.status_code == 400
    assert "did not start in this browser" in answer.text
    assert row_counts(app) == before


def test_replayed_launch_is_refused(app: Flask, registered: Any, moodle: Any,
                                    browser: FormBrowser) -> None:
    auth_page = start_launch(browser, moodle, "learner1")
    form = browser.auto_form(auth_page)
    assert form is not None
    assert browser.follow_all(browser.follow(auth_page)).status_code == 200
    before = row_counts(app)
    replay = browser.request("POST", form.action, data=dict(form.fields))
    assert replay.status_code == 400 and "already used" in replay.text
    assert row_counts(app) == before


def test_reused_nonce_is_refused_even_with_a_valid_state(app: Flask, registered: Any,
                                                         moodle: Any,
                                                         browser: FormBrowser) -> None:
    auth_page = start_launch(browser, moodle, "learner1")
    form = browser.auto_form(auth_page)
    assert form is not None
    assert browser.follow_all(browser.follow(auth_page)).status_code == 200
    # Put the consumed state back (as if a worker had not seen it used): the nonce,
    # recorded by the first launch, must still stop the replay.
    nonce = moodle.last_id_token.claims["nonce"]
    login_cookie = browser.cookie("aiu_login")
    assert login_cookie is not None and login_cookie.value
    with app.app_context():
        platform = db.session.scalar(sa.select(Platform))
        assert platform is not None
        DatabaseStateStore().save_login(
            form.fields["state"], PendingLogin(nonce, platform.id, digest(login_cookie.value)),
            60)
        db.session.commit()
    before = row_counts(app)
    replay = browser.request("POST", form.action, data=dict(form.fields))
    assert replay.status_code == 401 and "already used" in replay.text
    assert row_counts(app) == before


def test_inactive_deployment_and_platform_are_refused(app: Flask, registered: Any, moodle: Any,
                                                      browser: FormBrowser) -> None:
    with app.app_context():
        deployment = db.session.scalar(sa.select(Deployment))
        assert deployment is not None
        deployment.active = False
        db.session.commit()
    answer = _refused(app, browser, moodle)
    assert "switched off" in answer.text
    with app.app_context():
        platform = db.session.scalar(sa.select(Platform))
        assert platform is not None
        platform.active = False
        db.session.commit()
    url, fields = moodle.login_initiation("learner1")
    refused = browser.request("POST", url, data=fields)
    assert refused.status_code == 403 and "switched off" in refused.text


def test_a_deployment_switched_off_elsewhere_stops_launching_within_the_cache_bound(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser) -> None:
    """Another process's change (here: SQL outside this process's ORM session) is seen
    once REGISTRATION_CACHE_SECONDS have passed; until then the cached row is used."""
    clock = [1000.0]
    with app.app_context():
        row_cache().clock = lambda: clock[0]
    # The first launch stores Moodle's product details on the platform (a change in this
    # process, so the cache is filled again); the second fills it for good.
    for _ in range(2):
        assert launch(browser, moodle, "learner1").status_code == 200
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.update(Deployment).values(active=False))
    clock[0] += app.config["REGISTRATION_CACHE_SECONDS"] - 1
    with FormBrowser() as second:
        assert launch(second, moodle, "learner1").status_code == 200  # still cached
    clock[0] += 2
    with FormBrowser() as third:
        assert "switched off" in _refused(app, third, moodle).text


def test_login_from_an_unregistered_platform_is_refused(app: Flask, registered: Any,
                                                        moodle: Any,
                                                        browser: FormBrowser) -> None:
    url, fields = moodle.login_initiation("learner1")
    fields["iss"] = "https://unknown-moodle.example"
    before = row_counts(app)
    answer = browser.request("POST", url, data=fields)
    assert answer.status_code == 403
    assert "not registered with the tool" in answer.text
    assert row_counts(app) == before


@pytest.mark.parametrize("field,value,message", [
    ("target_link_uri", "https://evil.example/launch", "another site"),
    ("login_hint", "", "incomplete"),
    ("iss", "", "incomplete"),
])
def test_login_initiation_checks(app: Flask, registered: Any, moodle: Any,
                                 browser: FormBrowser, field: str, value: str,
                                 message: str) -> None:
    url, fields = moodle.login_initiation("learner1")
    fields[field] = value
    before = row_counts(app)
    answer = browser.request("POST", url, data=fields)
    assert answer.status_code == 400 and message in answer.text
    assert row_counts(app) == before


def test_redirect_uri_is_always_the_tools_own(app: Flask, registered: Any, moodle: Any,
                                              browser: FormBrowser) -> None:
    url, fields = moodle.login_initiation("learner1")
    fields["target_link_uri"] = app.config["BASE_URL"] + "/lti/launch?review=1"
    answer = browser.request("POST", url, data=fields)
    # The stand-in's auth.php only answers (with the id_token form) when redirect_uri is
    # exactly a registered one.
    form = browser.auto_form(answer)
    assert form is not None and form.action == app.config["BASE_URL"] + "/lti/launch"


def test_oversized_request_is_refused(app: Flask, tool: Any) -> None:
    answer = requests.post(app.config["BASE_URL"] + "/lti/launch",
                           data={"id_token": "x" * 300_000, "state": "s"}, timeout=10)
    assert answer.status_code == 413


def test_refusals_answer_json_to_api_clients(app: Flask, tool: Any) -> None:
    answer = requests.post(app.config["BASE_URL"] + "/lti/launch", data={"state": "x"},
                           headers={"Accept": "application/json"}, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"] == "state_missing"


def test_launch_is_a_post(app: Flask, tool: Any) -> None:
    answer = requests.get(app.config["BASE_URL"] + "/lti/launch", timeout=10)
    assert answer.status_code == 405
    assert "not allowed" in answer.text


def test_platform_key_rotation_is_followed_with_one_refetch(app: Flask, registered: Any,
                                                            moodle: Any,
                                                            browser: FormBrowser) -> None:
    assert launch(browser, moodle, "learner1").status_code == 200
    fetched = moodle.jwks_fetch_count
    assert launch(browser, moodle, "learner1").status_code == 200
    assert moodle.jwks_fetch_count == fetched  # cached: no call at steady state
    app.config["JWKS_REFETCH_MIN_INTERVAL"] = 0
    moodle.rotate_platform_key()
    assert launch(browser, moodle, "learner1").status_code == 200
    assert moodle.jwks_fetch_count == fetched + 1


def test_jwks_endpoint(app: Flask, tool: Any) -> None:
    answer = requests.get(app.config["BASE_URL"] + "/lti/jwks", timeout=10)
    keys = answer.json()["keys"]
    assert len(keys) == 1 and keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig"
    assert "d" not in keys[0]
