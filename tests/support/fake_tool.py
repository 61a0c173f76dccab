"""A throwaway LTI 1.3 tool for testing the Moodle stand-in itself.

``FakeTool`` serves, on a loopback port: ``/jwks`` (its RSA keys), ``/login`` (OIDC login
initiation: sets a ``SameSite=None; Secure; Partitioned`` state cookie and redirects to the
platform's auth.php) and ``/launch`` (receives the id_token, checks the state cookie and
the signature against the platform's certs.php, answers JSON). Helpers sign client
assertions and deep-linking responses.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Flask, Response, jsonify, redirect, request

from lti_tool.demo.keys import JwtError, RsaKey, decode_jws, encode_jws, public_keys_from_jwks
from lti_tool.demo.platform import MoodleStandIn, ToolRegistration
from lti_tool.demo.server import serve_in_thread

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"


class FakeTool:
    """A minimal tool on ``http://<public_host or host>:<port>`` (see the module docstring);
    bind to 127.0.0.1 and pass ``public_host="localhost"`` for a tool on another *site* than a
    stand-in at 127.0.0.1.

    Knobs: ``auth_overrides`` (fields replacing the auth request's), ``redirect_uri`` (what it
    sends as redirect_uri), ``jwks_with_kid`` (publish kids), ``keys`` (published keys,
    current first). Records: ``logins`` (login initiation fields), ``launches`` (launch
    results), ``jwks_hits``.
    """

    def __init__(self, host: str = "127.0.0.1", *, public_host: str | None = None) -> None:
        self.key = RsaKey.generate()
        self.keys: list[RsaKey] = [self.key]
        self.jwks_with_kid = True
        self.auth_overrides: dict[str, str] = {}
        self.logins: list[dict[str, str]] = []
        self.launches: list[dict[str, Any]] = []
        self.jwks_hits = 0
        self.platform_issuer: str | None = None  # where /launch fetches certs.php from
        self.app = self._make_app()
        self.handle = serve_in_thread(self.app, host, 0)
        self.url = f"http://{public_host or host}:{self.handle.port}"
        self.redirect_uri = self.url + "/launch"

    # -- the tool's endpoints -----------------------------------------------------------------
    def _make_app(self) -> Flask:
        app = Flask("fake_tool")
        app.json.sort_keys = False  # type: ignore[attr-defined]

        @app.get("/jwks")
        def jwks() -> Response:
            self.jwks_hits += 1
            keys = []
            for key in self.keys:
                jwk = key.public_jwk()
                if not self.jwks_with_kid:
                    jwk.pop("kid")
                keys.append(jwk)
            return jsonify({"keys": keys})

        @app.route("/login", methods=["GET", "POST"])
        def login() -> Any:
            fields = {k: v for k, v in request.values.items()}
            self.logins.append(fields)
            state = secrets.token_urlsafe(12)
            params = {
                "scope": "openid", "response_type": "id_token", "response_mode": "form_post",
                "prompt": "none", "client_id": fields.get("client_id", ""),
                "redirect_uri": self.redirect_uri, "login_hint": fields.get("login_hint", ""),
                "lti_message_hint": fields.get("lti_message_hint", ""), "state": state,
                "nonce": secrets.token_urlsafe(12),
            }
            params.update(self.auth_overrides)
            params = {k: v for k, v in params.items() if v is not None}
            response = redirect(fields["iss"] + "/mod/lti/auth.php?" + urlencode(params))
            response.headers.add(
                "Set-Cookie",
                f"lti_state={state}; Path=/; SameSite=None; Secure; Partitioned; HttpOnly")
            return response

        @app.post("/launch")
        def launch() -> Response:
            result: dict[str, Any] = {"form": {k: v for k, v in request.form.items()},
                                      "state_cookie_ok": (
                                          request.cookies.get("lti_state") is not None
                                          and request.cookies.get("lti_state")
                                          == request.form.get("state"))}
            token = request.form.get("id_token")
            if token:
                iss = self.platform_issuer or json.loads(_b64(token.split(".")[1]))["iss"]
                certs = requests.get(iss + "/mod/lti/certs.php", timeout=5).json()
                try:
                    header, claims = decode_jws(token, public_keys_from_jwks(certs))
                    result.update(ok=True, header=header, claims=claims)
                except JwtError as err:
                    result.update(ok=False, error=str(err))
            self.launches.append(result)
            return jsonify(result)

        return app

    # -- helpers ------------------------------------------------------------------------------
    def register_on(self, standin: MoodleStandIn, **kwargs: Any) -> ToolRegistration:
        """Register this tool by hand on ``standin`` (keyword arguments override)."""
        params: dict[str, Any] = {
            "initiate_login_uri": self.url + "/login",
            "redirect_uris": [self.url + "/launch"],
            "jwks_uri": self.url + "/jwks",
            "target_link_uri": self.url + "/launch",
            "deep_linking_url": self.url + "/launch",
        }
        params.update(kwargs)
        self.platform_issuer = standin.issuer
        return standin.register_tool(**params)

    def sign(self, claims: Mapping[str, Any], *, kid: str | None | bool = True,
             key: RsaKey | None = None) -> str:
        """A JWT signed with ``key`` (default the current one); ``kid=False`` leaves the kid
        out, a string sets it."""
        key = key or self.key
        header: dict[str, Any] = {"typ": "JWT", "alg": "RS256"}
        if kid is True:
            header["kid"] = key.kid
        elif isinstance(kid, str):
            header["kid"] = kid
        return encode_jws(header, dict(claims), key)

    def client_assertion(self, client_id: str, token_url: str, *, kid: str | None | bool = True,
                         **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": token_url,
                                  "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex}
        claims.update(overrides)
        return self.sign({k: v for k, v in claims.items() if v is not None}, kid=kid)

    def request_token(self, standin: MoodleStandIn, client_id: str, scopes: list[str], *,
                      assertion: str | None = None) -> requests.Response:
        token_url = standin.url("/mod/lti/token.php")
        return requests.post(token_url, data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion or self.client_assertion(client_id, token_url),
            "scope": " ".join(scopes),
        }, timeout=5)

    def deep_link_response(self, standin: MoodleStandIn, registration: ToolRegistration,
                           items: list[dict[str, Any]], *, kid: str | None | bool = True,
                           **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": registration.client_id, "aud": [standin.issuer], "iat": now,
            "exp": now + 600, "nonce": secrets.token_hex(8),
            LTI + "deployment_id": registration.deployment_id,
            LTI + "message_type": "LtiDeepLinkingResponse", LTI + "version": "1.3.0",
            DL + "content_items": items, DL + "data": None,
        }
        claims.update(overrides)
        return self.sign({k: v for k, v in claims.items() if v is not None}, kid=kid)

    def shutdown(self) -> None:
        self.handle.shutdown()


def _b64(text: str) -> str:
    from lti_tool.demo.keys import b64url_decode

    return b64url_decode(text).decode("utf-8")
