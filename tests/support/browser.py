"""A scripted user agent for the tests: follows redirects and auto-submitting forms like a
browser, with Chromium's cookie rules, and a helper that runs a whole LTI launch.

``FormBrowser`` wraps a ``requests.Session``:

* ``open(url)`` / ``submit(url, fields, method)`` make the request, follow HTTP redirects and
  then every auto-submitting form (a ``<form>`` submitted by the page's script, such as
  Moodle's ``ltiAuthForm``/``ltiInitiateLoginForm``) or ``<meta http-equiv=refresh>``,
  returning the final ``requests.Response``.
* ``get``/``request`` do one request (redirects followed, forms not); ``auto_form(response)``
  parses the page's auto-submitting form; ``follow(response)`` submits it (one step) so a test
  can stop between steps and tamper with the fields.

Cookies follow Chromium: ``http://localhost`` and ``http://127.0.0.1`` (and ``[::1]``) are
secure contexts, so ``Secure`` cookies are stored and sent there (not on other ``http``
hosts); ``SameSite=None`` cookies must be ``Secure``; a cookie without ``SameSite`` is
``Lax``. SameSite is enforced by *site* (scheme + host; ports do not matter): while
``top_level`` is set (the browser is "inside an iframe" of that page, as during a launch from
Moodle), requests to another site are cross-site: Lax/Strict cookies are neither sent nor
stored there, ``Partitioned`` cookies are kept per top-level site, and with
``block_third_party_cookies`` unpartitioned cookies are dropped too. At top level, a
cross-site POST navigation (e.g. a form posted from another site) does not carry Lax cookies.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import Cookie, DefaultCookiePolicy
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from requests.cookies import get_cookie_header

from lti_tool.demo.platform import MoodleStandIn

REDIRECTS = (301, 302, 303, 307, 308)
TRUSTWORTHY_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
PARTITION_ATTR = "X-Partition-Key"


def site_of(url: str) -> str:
    """Schemeful site: scheme and registrable host (last two labels for domain names)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not re.fullmatch(r"[\d.]+|[0-9a-f:]+", host) and host.count(".") >= 2:
        host = ".".join(host.split(".")[-2:])
    return f"{parts.scheme}://{host}"


def is_trustworthy(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme in ("https", "wss") or host in TRUSTWORTHY_HOSTS or host.endswith(
        ".localhost")


def _attr(cookie: Cookie, name: str) -> tuple[bool, str | None]:
    for key, value in cookie._rest.items():  # type: ignore[attr-defined]
        if key.lower() == name.lower():
            return True, value
    return False, None


def samesite(cookie: Cookie) -> str:
    present, value = _attr(cookie, "SameSite")
    return (value or "lax").lower() if present else "lax"


def partitioned(cookie: Cookie) -> bool:
    return _attr(cookie, "Partitioned")[0]


@dataclass
class RequestContext:
    """Where the next request comes from (set by ``FormBrowser`` before each hop)."""

    top_level: str | None = None  # URL of the top-level page when inside an iframe
    initiator: str | None = None  # URL of the page that navigated (form/link/redirect)
    method: str = "GET"

    def cross_site(self, url: str) -> bool:
        if self.top_level is not None:
            return site_of(url) != site_of(self.top_level)
        return self.initiator is not None and site_of(url) != site_of(self.initiator)


class ChromiumCookiePolicy(DefaultCookiePolicy):
    """``DefaultCookiePolicy`` with Chromium's secure-context, SameSite and CHIPS rules."""

    def __init__(self, *, block_third_party_cookies: bool = False) -> None:
        super().__init__()
        self.context = RequestContext()
        self.block_third_party_cookies = block_third_party_cookies

    def _partition_key(self) -> str | None:
        return site_of(self.context.top_level) if self.context.top_level else None

    def set_ok(self, cookie: Cookie, request: Any) -> bool:
        if not super().set_ok(cookie, request):
            return False
        url = request.get_full_url()
        mode = samesite(cookie)
        if cookie.secure and not is_trustworthy(url):
            return False
        if mode == "none" and not cookie.secure:
            return False
        if partitioned(cookie) and not cookie.secure:
            return False
        framed_cross_site = self.context.top_level is not None and self.context.cross_site(url)
        if framed_cross_site and mode in ("lax", "strict"):
            return False
        if partitioned(cookie):
            rest: dict[str, Any] = cookie._rest  # type: ignore[attr-defined]
            rest[PARTITION_ATTR] = self._partition_key() or site_of(url)
        elif framed_cross_site and self.block_third_party_cookies:
            return False
        return True

    def return_ok_secure(self, cookie: Cookie, request: Any) -> bool:
        return not cookie.secure or is_trustworthy(request.get_full_url())

    def return_ok(self, cookie: Cookie, request: Any) -> bool:
        if not super().return_ok(cookie, request):
            return False
        url = request.get_full_url()
        ctx = self.context
        if partitioned(cookie):
            wanted = self._partition_key() or site_of(url)
            if _attr(cookie, PARTITION_ATTR)[1] != wanted:
                return False
        elif (ctx.top_level is not None and ctx.cross_site(url)
              and self.block_third_party_cookies):
            return False
        if ctx.cross_site(url):
            mode = samesite(cookie)
            if mode == "strict":
                return False
            if mode == "lax" and (ctx.top_level is not None or ctx.method != "GET"):
                return False
        return True


class _FormParser(HTMLParser):
    """Collects forms (action, method, inputs), scripts and meta refreshes of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self.scripts: list[str] = []
        self.refresh: str | None = None
        self._in_script = False
        self._textarea: tuple[dict[str, Any], str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"),
                               "id": a.get("id", ""), "name": a.get("name", ""),
                               "target": a.get("target", ""), "fields": {},
                               "visible": False, "autosubmit": "data-autosubmit" in a})
        elif tag in ("select", "textarea") and self.forms:
            self.forms[-1]["visible"] = True
            if tag == "textarea" and a.get("name"):
                self._textarea = (self.forms[-1], a["name"])
                self.forms[-1]["fields"][a["name"]] = ""
        elif tag == "input" and self.forms and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind not in ("hidden", "submit", "button", "image", "reset"):
                self.forms[-1]["visible"] = True
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "script":
            self._in_script = True
            self.scripts.append("")
        elif tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            match = re.search(r"url\s*=\s*['\"]?([^'\"]+)", a.get("content", ""), re.I)
            if match:
                self.refresh = match.group(1).strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._in_script and self.scripts:
            self.scripts[-1] += data
        elif self._textarea is not None:
            form, name = self._textarea
            form["fields"][name] += data


@dataclass
class AutoForm:
    """An auto-submitting form: resolved ``action``, upper-case ``method`` and its fields."""

    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    name: str = ""


def find_auto_form(html: str, base_url: str) -> AutoForm | None:
    """The form the page's script submits (``document.NAME.submit()``,
    ``getElementById('ID').submit()``, ``forms[0].submit()``...), or a meta refresh as a GET;
    None when the page does not move on by itself. Only forms made of hidden inputs count (a
    form with visible fields waits for a person)."""
    parser = _FormParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - a page we cannot parse has no form to follow
        return None
    script = "\n".join(parser.scripts)
    candidates = [f for f in parser.forms if not f["visible"]]
    # The tool's pages submit forms marked data-autosubmit from a script file (no inline
    # script under its Content-Security-Policy).
    for form in candidates:
        if form["autosubmit"]:
            return AutoForm(urljoin(base_url, form["action"] or base_url),
                            form["method"].upper() or "GET", dict(form["fields"]),
                            form["name"] or form["id"])
    if candidates and re.search(r"\.(request)?[sS]ubmit\s*\(", script):
        chosen = None
        for form in candidates:
            names = [n for n in (form["id"], form["name"]) if n]
            if any(re.search(rf"\b{re.escape(n)}\b[\"'\]\)]*\s*\.\s*(request)?[sS]ubmit", script)
                   for n in names):
                chosen = form
                break
        if chosen is None and len(parser.forms) == 1 and candidates:
            chosen = candidates[0]
        elif chosen is None and "forms[0]" in script and not parser.forms[0]["visible"]:
            chosen = parser.forms[0]
        if chosen is not None:
            return AutoForm(urljoin(base_url, chosen["action"] or base_url),
                            chosen["method"].upper() or "GET", dict(chosen["fields"]),
                            chosen["name"] or chosen["id"])
    if parser.refresh:
        return AutoForm(urljoin(base_url, parser.refresh), "GET", {}, "meta-refresh")
    return None


class FormBrowser:
    """A ``requests.Session`` that behaves like a browser for LTI flows (module docstring).

    ``history`` lists every response received (redirect hops included). ``top_level`` is the
    URL of the page embedding what the browser does (None: top-level browsing).
    """

    def __init__(self, *, timeout: float = 10.0, block_third_party_cookies: bool = False,
                 max_steps: int = 12) -> None:
        self.session = requests.Session()
        self.policy = ChromiumCookiePolicy(block_third_party_cookies=block_third_party_cookies)
        self.session.cookies.set_policy(self.policy)
        self.timeout = timeout
        self.max_steps = max_steps
        self.history: list[requests.Response] = []
        self.top_level: str | None = None
        self.current_url: str | None = None

    # -- context ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def framed(self, top_level_url: str | None) -> Iterator[FormBrowser]:
        """Act inside an iframe of ``top_level_url`` for the duration of the block."""
        previous = self.top_level
        self.top_level = top_level_url
        try:
            yield self
        finally:
            self.top_level = previous

    def cookie(self, name: str, domain: str | None = None) -> Cookie | None:
        """A stored cookie by name (and domain), for assertions."""
        for cookie in self.session.cookies:
            if cookie.name == name and (domain is None or cookie.domain.lstrip(".") == domain):
                return cookie
        return None

    # -- one request --------------------------------------------------------------------------
    def request(self, method: str, url: str, *, data: Mapping[str, str] | None = None,
                initiator: str | None = None, files: Any = None,
                **kwargs: Any) -> requests.Response:
        """One navigation: the request plus its HTTP redirects (303/301/302 after a POST
        become GETs; 307/308 keep method and body). Auto-submitting forms are not followed.
        ``files`` (as for ``requests``) sends the body as multipart/form-data."""
        method = method.upper()
        origin = initiator if initiator is not None else self.current_url
        body: Mapping[str, str] | None = data
        for _ in range(20):
            self.policy.context = RequestContext(self.top_level, origin, method)
            headers = dict(kwargs.pop("headers", {}) or {})
            if origin and method == "POST":
                parts = urlsplit(origin)
                headers.setdefault("Origin", f"{parts.scheme}://{parts.netloc}")
            if origin:
                headers.setdefault("Referer", origin)
            prepared = self.session.prepare_request(requests.Request(
                method, url, data=body if method != "GET" else None, headers=headers,
                files=files if method != "GET" else None))
            # requests copies the cookies into a jar with the default policy: decide here.
            prepared.headers.pop("Cookie", None)
            cookie_header = get_cookie_header(self.session.cookies, prepared)
            if cookie_header:
                prepared.headers["Cookie"] = cookie_header
            response = self.session.send(prepared, allow_redirects=False,
                                         timeout=self.timeout, **kwargs)
            self.history.append(response)
            if response.status_code in REDIRECTS and "Location" in response.headers:
                origin = url
                url = urljoin(url, response.headers["Location"])
                if response.status_code == 303 or (
                        response.status_code in (301, 302) and method == "POST"):
                    method, body, files = "GET", None, None
                continue
            self.current_url = url
            return response
        raise RuntimeError(f"too many redirects from {url}")

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    # -- forms --------------------------------------------------------------------------------
    @staticmethod
    def auto_form(response: requests.Response) -> AutoForm | None:
        """The auto-submitting form (or meta refresh) of an HTML response, if any."""
        if "html" not in response.headers.get("Content-Type", "text/html"):
            return None
        return find_auto_form(response.text, response.url)

    def follow(self, response: requests.Response, *,
               fields: Mapping[str, str] | None = None) -> requests.Response:
        """Submit ``response``'s auto-submitting form once (``fields`` replace its values)."""
        form = self.auto_form(response)
        if form is None:
            raise AssertionError(f"no auto-submitting form on {response.url}")
        values = dict(form.fields)
        values.update(fields or {})
        if form.method == "POST":
            return self.request("POST", form.action, data=values, initiator=response.url)
        target = form.action
        if values:
            joiner = "&" if urlsplit(target).query else "?"
            target += joiner + urlencode(values)
        return self.request("GET", target, initiator=response.url)

    def follow_all(self, response: requests.Response) -> requests.Response:
        """Follow auto-submitting forms until a page stays put."""
        for _ in range(self.max_steps):
            if self.auto_form(response) is None:
                return response
            response = self.follow(response)
        raise RuntimeError("too many auto-submitting forms in a row")

    def open(self, url: str, **kwargs: Any) -> requests.Response:
        """GET ``url`` and follow redirects and auto-submitting forms to the final page."""
        return self.follow_all(self.request("GET", url, **kwargs))

    def submit(self, url: str, fields: Mapping[str, str], method: str = "POST", *,
               initiator: str | None = None) -> requests.Response:
        """Send a form to ``url`` and follow everything that happens by itself afterwards."""
        if method.upper() == "GET":
            joiner = "&" if urlsplit(url).query else "?"
            target = url + joiner + urlencode(dict(fields))
            return self.follow_all(self.request("GET", target, initiator=initiator))
        return self.follow_all(self.request("POST", url, data=dict(fields),
                                            initiator=initiator))

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> FormBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_launch(browser: FormBrowser, standin: MoodleStandIn, username: str,
                 activity_id: int | None = None, *, framed: bool = True,
                 **kwargs: Any) -> requests.Response:
    """The first step of a launch only: Moodle's auto-POST of the login initiation to the tool
    (the tool's answer is returned unfollowed, so a test can step with ``browser.follow``)."""
    url, fields = standin.login_initiation(username, activity_id, **kwargs)
    if framed:
        browser.top_level = standin.url(f"/mod/lti/view.php?as={username}")
    return browser.request("POST", url, data=fields,
                           initiator=standin.url("/mod/lti/launch.php"))


def launch(browser: FormBrowser, standin: MoodleStandIn, username: str,
           activity_id: int | None = None, *, framed: bool = True,
           **kwargs: Any) -> requests.Response:
    """Run a whole launch and return the tool's final page.

    Login initiation (``standin.login_initiation(username, activity_id, **kwargs)``: e.g.
    ``message_type``, ``for_user``, ``client_id``, ``course_id``) → the tool's login → auth.php
    → the auto-POSTed id_token → the tool's launch → its redirects. With ``framed`` (default)
    the browser acts inside Moodle's iframe and *stays* there afterwards (``browser.top_level``
    is the stand-in's activity page), so later ``browser.open`` calls to the tool carry the
    same (partitioned) cookies; set ``browser.top_level = None`` to leave the frame.
    """
    return browser.follow_all(start_launch(browser, standin, username, activity_id,
                                           framed=framed, **kwargs))
