"""The web-app basics, through real launches from the Moodle stand-in: the
Content-Security-Policy (framing by the registered platforms only, no inline script), no-store
on personal pages, HSTS on https, rate limits with a human 429 page, capped login states, safe
download names, JSON (never pickled) caches and private instance files."""

from __future__ import annotations

import os
import re
import stat
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from lti_tool import create_app
from lti_tool.extensions import db
from lti_tool.lti.models import CachedJson, LoginState
from lti_tool.people.models import Person
from lti_tool.platforms import service as platforms
from tests.conftest import TEST_SECRET
from tests.support.browser import FormBrowser, launch
from tests.support.pages import post_form

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def directives(response: requests.Response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
            for part in (p.strip() for p in policy.split(";")) if part}


def moodle_origin(moodle: Any) -> str:
    return str(moodle.issuer).rstrip("/")


# --- framing and script policy ----------------------------------------------------------------

@pytest.mark.parametrize("username", ["learner1", "marker1", "als1", "admin"])
def test_launched_pages_may_be_framed_only_by_the_platform(registered: Any, moodle: Any,
                                                           username: str) -> None:
    with FormBrowser() as browser:
        page = launch(browser, moodle, username)
        assert page.status_code == 200, page.text
        policy = directives(page)
        assert policy["frame-ancestors"] == moodle_origin(moodle)
        assert policy["script-src"] == "'self'"
        assert policy["object-src"] == "'none'"
        assert page.headers["Cache-Control"] == "no-store"
        assert "Cookie" in page.headers["Vary"]
        # Every page a launch leads to (the navigation's links) carries the same policy.
        origin = "/".join(page.url.split("/")[:3])
        for link in re.findall(r'<a href="(/[^"#]*)"', page.text):
            linked = browser.open(origin + link)
            if linked.headers.get("Content-Type", "").startswith("text/html"):
                assert directives(linked)["frame-ancestors"] == moodle_origin(moodle), link
                assert linked.headers["Cache-Control"] == "no-store", link


def test_deep_linking_pages_may_be_framed_by_the_platform(registered: Any, moodle: Any) -> None:
    with FormBrowser() as browser:
        page = launch(browser, moodle, "marker1", message_type="LtiDeepLinkingRequest")
        assert page.status_code == 200, page.text
        assert "/staff/deep-link" in page.url
        assert directives(page)["frame-ancestors"] == moodle_origin(moodle)


def test_an_error_in_the_launch_shows_inside_the_frame(registered: Any, moodle: Any) -> None:
    moodle.tamper = lambda header, claims: claims.update(nonce="replayed-or-made-up")
    with FormBrowser() as browser:
        page = launch(browser, moodle, "learner1")
        assert 400 <= page.status_code < 500
        assert directives(page)["frame-ancestors"] == moodle_origin(moodle)


def test_pages_outside_moodle_are_never_framed(app: Flask, registered: Any) -> None:
    base = app.config["BASE_URL"]
    home = requests.get(base + "/", timeout=10)
    assert directives(home)["frame-ancestors"] == "'none'"
    answer = requests.get(base + "/learner/answer/not-a-real-token", timeout=10)
    assert answer.status_code in (400, 404)
    assert directives(answer)["frame-ancestors"] == "'none'"
    missing = requests.get(base + "/no/such/page", timeout=10)
    assert directives(missing)["frame-ancestors"] == "'none'"


def test_static_files_and_jwks_keep_normal_caching(app: Flask, registered: Any) -> None:
    base = app.config["BASE_URL"]
    jwks = requests.get(base + "/lti/jwks", timeout=10)
    assert "no-store" not in jwks.headers["Cache-Control"]
    assert "max-age=300" in jwks.headers["Cache-Control"]
    assert "Content-Security-Policy" not in jwks.headers  # not a page
    css = requests.get(base + "/static/aiu.css", timeout=10)
    assert css.status_code == 200
    assert "no-store" not in css.headers.get("Cache-Control", "")


def test_the_registration_page_may_be_framed_by_the_site_registering(app: Flask, tool: Any,
                                                                     moodle: Any) -> None:
    with app.app_context():
        url, _ = platforms.mint_invite(app.config["BASE_URL"], "test", 3600)
        db.session.commit()
    page = requests.get(moodle.start_registration(url), timeout=15)
    assert page.status_code == 200, page.text
    assert directives(page)["frame-ancestors"] == moodle_origin(moodle)
    assert directives(page)["script-src"] == "'self'"
    # A value that is not a plain origin cannot add a directive to the policy.
    forged = requests.get(url + "?openid_configuration=" + requests.utils.quote(
        "https://x.example;script-src *") + "&registration_token=x", timeout=15)
    assert directives(forged)["frame-ancestors"] == "'none'"
    assert directives(forged)["script-src"] == "'self'"


def test_platform_origins_are_read_once_and_follow_changes(app: Flask, registered: Any,
                                                           moodle: Any) -> None:
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    with FormBrowser() as browser:
        page = launch(browser, moodle, "learner1")
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            for _ in range(3):
                again = browser.open(page.url)
                assert directives(again)["frame-ancestors"] == moodle_origin(moodle)
            assert not [s for s in statements if "platform.auth_login_url" in s
                        and "platform.active" in s]
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
        # Switched off in Moodle's registration: no longer allowed to frame the tool.
        with app.app_context():
            (platform,) = platforms.list_platforms()
            platforms.deactivate_platform(platform, "test")
            db.session.commit()
        assert directives(browser.open(page.url))["frame-ancestors"] == "'none'"


def test_no_inline_script_or_event_handler_in_any_template() -> None:
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"<script\b([^>]*)>", text):
            if "src=" not in match.group(1):
                offenders.append(f"{path}: inline <script>")
        if re.search(r"<[a-z][^>]*\son[a-z]+\s*=", text, re.I):
            offenders.append(f"{path}: inline event handler")
        if "javascript:" in text:
            offenders.append(f"{path}: javascript: URL")
    assert offenders == []


# --- HSTS -------------------------------------------------------------------------------------

def test_hsts_only_when_the_base_url_is_https(database_uri: str, app: Flask) -> None:
    assert "Strict-Transport-Security" not in app.test_client().get("/").headers
    secure = create_app({"SECRET_KEY": TEST_SECRET, "TESTING": True,
                         "BASE_URL": "https://aiu.example.ac.uk",
                         "SQLALCHEMY_DATABASE_URI": database_uri})
    answer = secure.test_client().get("/", base_url="https://aiu.example.ac.uk")
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
    with secure.app_context():
        db.engine.dispose()


# --- rate limits ------------------------------------------------------------------------------

def _login_rows(app: Flask) -> int:
    with app.app_context():
        count = int(db.session.scalar(sa.select(sa.func.count()).select_from(LoginState)) or 0)
        db.session.remove()
        return count


def test_a_burst_of_logins_is_cut_off_with_a_human_429(app: Flask, registered: Any,
                                                       moodle: Any) -> None:
    app.config["RATE_LIMIT_LOGIN"] = "5 per minute"
    answers = []
    for _ in range(12):
        url, fields = moodle.login_initiation("learner1")
        answers.append(requests.post(url, data=fields, allow_redirects=False, timeout=10))
    assert [a.status_code for a in answers[:5]] == [302] * 5
    refused = answers[5:]
    assert {a.status_code for a in refused} == {429}
    assert "Too many requests" in refused[0].text and "Wait a minute" in refused[0].text
    assert "Traceback" not in refused[0].text
    assert refused[0].headers["Retry-After"] == "60"
    assert _login_rows(app) == 5  # no login state for a refused request
    url, fields = moodle.login_initiation("learner1")
    as_json = requests.post(url, data=fields, headers={"Accept": "application/json"},
                            allow_redirects=False, timeout=10)
    assert as_json.status_code == 429
    assert as_json.json()["error"] == "rate_limited"


def test_login_states_waiting_per_client_are_capped(app: Flask, registered: Any,
                                                    moodle: Any) -> None:
    app.config["LOGIN_STATES_PER_CLIENT"] = 3
    for _ in range(10):
        url, fields = moodle.login_initiation("learner1")
        assert requests.post(url, data=fields, allow_redirects=False,
                             timeout=10).status_code == 302
    assert _login_rows(app) == 3
    with FormBrowser() as browser:  # the newest sign-in still completes
        page = launch(browser, moodle, "learner1")
        assert page.status_code == 200, page.text


def test_launches_registration_and_answer_links_are_limited(app: Flask, registered: Any,
                                                            moodle: Any) -> None:
    app.config.update(RATE_LIMIT_LAUNCH="2 per minute", RATE_LIMIT_REGISTRATION="2 per minute",
                      RATE_LIMIT_ANSWER_LINK="2 per minute")
    base = app.config["BASE_URL"]
    for path in ("/lti/register/made-up", "/learner/answer/made-up"):
        codes = [requests.get(base + path, timeout=10).status_code for _ in range(3)]
        assert codes[:2] != [429, 429] and codes[2] == 429, (path, codes)
    codes = []
    for _ in range(3):
        with FormBrowser() as browser:
            codes.append(launch(browser, moodle, "learner1").status_code)
    assert codes == [200, 200, 429]


def test_limits_can_be_switched_off(database_uri: str, keys_dir: Path, registered: Any,
                                    moodle: Any, app: Flask) -> None:
    import gc

    off = create_app({"SECRET_KEY": TEST_SECRET, "TESTING": True, "ALLOW_INSECURE": True,
                      "BASE_URL": app.config["BASE_URL"], "SQLALCHEMY_DATABASE_URI": database_uri,
                      "KEYS_DIR": str(keys_dir), "RATE_LIMITS_ENABLED": False,
                      "RATE_LIMIT_LOGIN": "1 per minute"})
    gc.collect()
    client = off.test_client()
    for _ in range(3):
        url, fields = moodle.login_initiation("learner1")
        assert client.post("/lti/login", data=fields).status_code == 302
    with off.app_context():
        db.engine.dispose()


def test_form_posts_are_limited_per_session(app: Flask, registered: Any, moodle: Any) -> None:
    app.config["RATE_LIMIT_FORM_POST"] = "2 per minute"
    with FormBrowser() as browser, FormBrowser() as other:
        page = launch(browser, moodle, "learner1")
        form_page = browser.open(page.url.rsplit("/learner/", 1)[0] + "/requests/new")
        assert form_page.status_code == 200, form_page.text[:300]
        codes = [post_form(browser, form_page, {}).status_code for _ in range(3)]
        assert codes[:2] == [400, 400] and codes[2] == 429, codes
        # Another person behind the same address is counted apart.
        launch(other, moodle, "learner2")
        other_form = other.open(page.url.rsplit("/learner/", 1)[0] + "/requests/new")
        assert post_form(other, other_form, {}).status_code == 400


# --- downloads --------------------------------------------------------------------------------

def test_a_crafted_sub_cannot_name_the_downloaded_file(app: Flask, registered: Any,
                                                       moodle: Any) -> None:
    crafted = 'x"; filename=pwn.html'
    moodle.tamper = lambda header, claims: claims.update(sub=crafted)
    with FormBrowser() as learner:
        assert launch(learner, moodle, "learner1").status_code == 200
    with app.app_context():
        person_id = db.session.scalar(sa.select(Person.id).where(Person.sub == crafted))
    assert person_id is not None
    with FormBrowser() as admin:
        page = launch(admin, moodle, "admin")
        base = page.url.split("/staff/placements/")[0]
        placement = page.url.split("/staff/placements/")[1].split("/")[0]
        for fmt in ("pdf", "csv"):
            download = admin.open(f"{base}/staff/placements/{placement}/learners/{person_id}"
                                  f"/report.{fmt}")
            assert download.status_code == 200, download.text[:300]
            header = download.headers["Content-Disposition"]
            parsed = Message()
            parsed["Content-Disposition"] = header
            assert parsed.get_content_disposition() == "attachment"
            name = parsed.get_filename()
            assert name is not None and name.endswith(f".{fmt}"), header
            assert re.fullmatch(r"[A-Za-z0-9._-]+", name), name
            assert len(re.findall(r";\s*filename\*?=", header)) == 1, header
            assert download.headers["Cache-Control"] == "no-store"


# --- caches and instance files ----------------------------------------------------------------

def test_keys_and_tokens_are_cached_as_json_never_pickled(app: Flask, registered: Any,
                                                          moodle: Any, tmp_path: Path) -> None:
    with FormBrowser() as browser:
        assert launch(browser, moodle, "marker1").status_code == 200
        assert launch(browser, moodle, "learner1").status_code == 200
    assert moodle.jwks_fetch_count == 1
    with app.app_context():
        from lti_tool.lti import services

        (platform,) = platforms.list_platforms()
        services.access_token(platform, ["https://purl.imsglobal.org/spec/lti-ags/scope/score"])
        db.session.commit()
        rows = list(db.session.scalars(sa.select(CachedJson)))
        db.session.remove()
    kinds = sorted(row.key.split(":")[0] for row in rows)
    assert kinds == ["jwks", "token"]
    for row in rows:
        assert row.value.lstrip()[:1] in ('{', '"')  # JSON text
    for folder in (Path(app.instance_path), tmp_path):
        for path in folder.rglob("*"):
            if path.is_file():
                assert path.read_bytes()[:1] != b"\x80", f"{path} looks like a pickle"
    assert not (Path(app.instance_path) / "cache").exists()


def test_instance_folder_and_sqlite_file_are_private(tmp_path: Path) -> None:
    app = create_app({"SECRET_KEY": TEST_SECRET, "TESTING": True, "ALLOW_INSECURE": True,
                      "SQLALCHEMY_DATABASE_URI": "sqlite:///" + str(tmp_path / "inst" / "a.db")})
    database = tmp_path / "inst" / "a.db"
    assert stat.S_IMODE(os.stat(database).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "inst").st_mode) == 0o700
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    for path in (tmp_path / "inst").iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, path
