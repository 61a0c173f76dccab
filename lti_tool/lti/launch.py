"""Validating an LTI 1.3 launch, beyond what pylti1p3 does by itself.

pylti1p3 decodes the id_token, finds the registration and runs its message validators; on
top of that this module consumes the login state once (bound to the browser that logged
in), consumes the nonce once (shared by all workers), accepts RS256 only with a ``kid``
from the platform's cached JWKS, checks ``iss``, ``aud`` and ``azp``, ``exp``/``iat`` with a
small leeway, the deployment, the LTI version, the message types the tool supports,
``sub`` and that ``target_link_uri`` points at this tool. The result is a small typed
:class:`Launch` that the rest of the tool uses instead of raw claims.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from flask_babel import gettext, lazy_gettext
from jwt.algorithms import RSAAlgorithm
from pylti1p3.exception import LtiException
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.request import Request

from lti_tool.lti.exceptions import EXPIRED, NOT_REGISTERED, LaunchError
from lti_tool.lti.jwks import find_key
from lti_tool.lti.state import LaunchStateStore, digest
from lti_tool.lti.tool_config import DatabaseToolConfig, PlatformRegistration
from lti_tool.platforms.models import Deployment, Platform

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = CLAIM + "message_type"
RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"
SUBMISSION_REVIEW = "LtiSubmissionReviewRequest"
SUPPORTED_MESSAGES = (RESOURCE_LINK, DEEP_LINKING, SUBMISSION_REVIEW)
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
# The refusals of pylti1p3's own checks (made once: every launch passes them to _refuse).
UNREADABLE = lazy_gettext("The launch from Moodle could not be read. Reload the page in Moodle "
                          "to start again.")
INCOMPLETE = lazy_gettext("The launch from Moodle is incomplete. Reload the page in Moodle to "
                          "start again.")


@dataclass(frozen=True)
class Launch:
    """What a validated launch says, in the tool's terms."""

    platform_id: int
    deployment_id: str
    message_type: str
    sub: str
    roles: tuple[str, ...]
    name: str = ""
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    username: str = ""
    sourcedid: str = ""
    context: Mapping[str, Any] = field(default_factory=dict)
    resource_link: Mapping[str, Any] = field(default_factory=dict)
    custom: Mapping[str, Any] = field(default_factory=dict)
    ags: Mapping[str, Any] = field(default_factory=dict)
    nrps_url: str | None = None
    deep_linking: Mapping[str, Any] = field(default_factory=dict)
    for_user: str | None = None
    tool_platform: Mapping[str, Any] = field(default_factory=dict)
    target_link_uri: str = ""
    return_url: str | None = None  # holds the Moodle user's sesskey: never log it
    locale: str = "en"
    # The platform and deployment rows the launch was validated against. Held here because
    # the ORM's identity map only keeps weak references: while the launch is alive, recording
    # it reads them from the map instead of selecting them again.
    platform_row: Platform | None = field(default=None, compare=False, repr=False)
    deployment_row: Deployment | None = field(default=None, compare=False, repr=False)


class _FormRequest(Request):
    """The launch's form fields, in the shape pylti1p3 reads them."""

    def __init__(self, params: Mapping[str, str], secure: bool) -> None:
        super().__init__()
        self._params = params
        self._secure = secure

    @property
    def session(self) -> None:
        return None

    def get_param(self, key: str) -> str:
        return self._params.get(key, "")

    def get_cookie(self, key: str) -> str | None:
        return None

    def is_secure(self) -> bool:
        return self._secure


class _Unused:
    """pylti1p3 insists on session and cookie services; the overrides below never use them."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"pylti1p3 session/cookie service used: {name}")


@contextmanager
def _refuse(reason: str, message: str, status: int = 400) -> Iterator[None]:
    """Turn pylti1p3's exceptions raised inside the block into a :class:`LaunchError`."""
    try:
        yield
    except LtiException as exc:
        raise LaunchError(reason, message, status=status) from exc


class StrictMessageLaunch(MessageLaunch):  # type: ignore[type-arg]
    """pylti1p3's launch with the checks it lacks; see the module docstring."""

    def __init__(self, params: Mapping[str, str], *, secure: bool,
                 store: LaunchStateStore, browser_secret: str | None, base_url: str,
                 leeway: int, nonce_ttl: int) -> None:
        super().__init__(_FormRequest(params, secure), DatabaseToolConfig(),
                         session_service=_Unused(), cookie_service=_Unused())
        self._store = store
        self._browser_secret = browser_secret
        self._base_url = base_url
        self._leeway = leeway
        self._nonce_ttl = nonce_ttl
        self._login_platform_id: int | None = None
        self._login_nonce: str | None = None
        self._deployment_row: Deployment | None = None

    def _get_request_param(self, key: str) -> str:
        return self._request.get_param(key)  # type: ignore[no-any-return]

    @property
    def platform(self) -> Platform:
        assert isinstance(self._registration, PlatformRegistration)
        return self._registration.platform

    def validate(self) -> StrictMessageLaunch:
        self._validated = True
        try:
            self.validate_state()
            with _refuse("token_malformed", UNREADABLE):
                self.validate_jwt_format()
            self._validate_header()
            self.validate_registration()
            self.validate_jwt_signature()
            self.validate_nonce()
            self.validate_deployment()
            self.validate_message()
        except Exception:
            self._validated = False
            raise
        return self

    def validate_state(self) -> StrictMessageLaunch:
        state = self._get_request_param("state")
        if not state or not self._get_request_param("id_token"):
            raise LaunchError("state_missing", gettext(
                "The launch from Moodle was incomplete. Reload the page in Moodle to start "
                "again."))
        login = self._store.consume_login(state)
        if login is None:
            raise LaunchError("state_unknown", gettext(
                "This launch has expired or was already used. Reload the page in Moodle to "
                "start again."))
        if self._browser_secret is None or digest(self._browser_secret) != login.browser_hash:
            raise LaunchError(
                "browser_mismatch",
                gettext("This launch did not start in this browser, or your browser blocked "
                        "the tool's cookie. Allow cookies for this site (or open the activity "
                        "in a new window), then reload the page in Moodle."),
            )
        self._login_platform_id = login.platform_id
        self._login_nonce = login.nonce
        return self

    def _validate_header(self) -> None:
        header = self._jwt.get("header", {})
        if header.get("alg") != "RS256":
            raise LaunchError("alg_not_allowed", gettext(
                "The launch was not signed the way the tool requires (RS256). Ask your "
                "administrator."), status=401)
        if not header.get("kid"):
            raise LaunchError("kid_missing", gettext(
                "The launch's signature names no key. Ask your administrator."), status=401)

    def validate_registration(self) -> StrictMessageLaunch:
        body = self._jwt.get("body", {})
        if not isinstance(body.get("iss"), str) or not body.get("iss"):
            raise LaunchError("iss_missing",
                              gettext("The launch does not say which site it came from."),
                              status=401)
        aud = body.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise LaunchError("aud_missing", gettext("The launch is not addressed to this tool."),
                              status=401)
        azp = body.get("azp")
        if azp is not None and (not isinstance(azp, str) or azp not in audiences):
            raise LaunchError("azp_mismatch", gettext("The launch is addressed to another tool."),
                              status=401)
        if len(audiences) > 1 and azp is None:
            raise LaunchError("azp_missing", gettext(
                "The launch has several audiences but does not say which one it is for."),
                status=401)
        client_id = str(azp if azp is not None else audiences[0])
        registration = DatabaseToolConfig().find_registration_by_params(body["iss"], client_id)
        if registration is None:
            raise LaunchError("platform_unknown", NOT_REGISTERED, status=403)
        self._registration = registration
        if not self.platform.active:
            raise LaunchError("platform_inactive", gettext(
                "The tool has been switched off for this Moodle site. Ask your "
                "administrator."), status=403)
        if self._login_platform_id != self.platform.id:
            raise LaunchError("platform_mismatch", gettext(
                "This launch does not match the sign-in that started it. Reload the page in "
                "Moodle to start again."), status=401)
        return self

    def validate_jwt_signature(self) -> StrictMessageLaunch:
        kid = self._jwt["header"]["kid"]
        jwk = find_key(self.platform.key_set_url, kid)
        if jwk is None:
            raise LaunchError("kid_unknown", gettext(
                "The launch was signed with a key Moodle does not publish. Reload the page in "
                "Moodle to start again."), status=401)
        try:
            key = RSAAlgorithm.from_jwk(json.dumps(jwk))
            jwt.decode(
                self._get_id_token(),
                key,  # type: ignore[arg-type]
                algorithms=["RS256"],
                audience=self.platform.client_id,
                issuer=self.platform.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud", "nonce"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise LaunchError("token_expired", EXPIRED, status=401) from exc
        except jwt.ImmatureSignatureError as exc:
            raise LaunchError("token_not_yet_valid", gettext(
                "The launch is dated in the future: a server clock is wrong. Tell your "
                "administrator."), status=401) from exc
        except jwt.MissingRequiredClaimError as exc:
            raise LaunchError("claim_missing", gettext(
                "The launch is missing '%(claim)s'. Reload the page in Moodle to start again.",
                claim=exc.claim), status=401) from exc
        except (jwt.InvalidTokenError, ValueError) as exc:
            raise LaunchError("bad_signature", gettext(
                "The launch could not be verified as coming from Moodle. Reload the page in "
                "Moodle to start again."), status=401) from exc
        return self

    def validate_nonce(self) -> StrictMessageLaunch:
        nonce = self._jwt["body"].get("nonce")
        if not isinstance(nonce, str) or nonce != self._login_nonce:
            raise LaunchError("nonce_mismatch", gettext(
                "This launch does not match the sign-in that started it. Reload the page in "
                "Moodle to start again."), status=401)
        if not self._store.use_nonce(self.platform.id, nonce, self._nonce_ttl):
            raise LaunchError("nonce_reused", gettext(
                "This launch was already used. Reload the page in Moodle to start again."),
                status=401)
        return self

    def validate_deployment(self) -> StrictMessageLaunch:
        deployment_id = self._jwt["body"].get(CLAIM + "deployment_id")
        if not isinstance(deployment_id, str) or not deployment_id:
            raise LaunchError("deployment_missing", gettext(
                "The launch names no deployment. Reload the page in Moodle to start again."))
        row = DatabaseToolConfig().deployment_row(self.platform.issuer, self.platform.client_id,
                                                  deployment_id)
        if row is None:
            raise LaunchError("deployment_unknown", gettext(
                "This placement of the tool is not known to the tool. Ask your administrator "
                "to add its deployment."), status=403)
        if not row.active:
            raise LaunchError("deployment_inactive", gettext(
                "This deployment of the tool has been switched off. Ask your administrator."),
                status=403)
        self._deployment_row = row
        return self

    def validate_message(self) -> StrictMessageLaunch:
        body = self._jwt["body"]
        if body.get(CLAIM + "version") != "1.3.0":
            raise LaunchError("version_unsupported", gettext(
                "The launch uses an LTI version the tool does not support (it needs 1.3.0)."))
        message_type = body.get(MESSAGE_TYPE)
        if message_type not in SUPPORTED_MESSAGES:
            raise LaunchError("message_unsupported",
                              gettext("The tool cannot open this kind of launch."))
        if not isinstance(body.get("sub"), str) or not body["sub"]:
            raise LaunchError("sub_missing", gettext(
                "The launch does not say who you are; the tool does not accept anonymous "
                "launches."))
        target = body.get(CLAIM + "target_link_uri")
        if not isinstance(target, str) or not _on_base(target, self._base_url):
            raise LaunchError("target_foreign", gettext("The launch points at another site."))
        if not isinstance(body.get(CLAIM + "roles"), list):
            raise LaunchError("roles_missing",
                              gettext("The launch does not say what your role is."))
        if message_type == SUBMISSION_REVIEW:
            # pylti1p3 insists on the lineitem claim, which Moodle omits once a link has two
            # line items, and on for_user, which Moodle 5.1's "View results" omits: the tool
            # copes with both, so only the shape of what is present is checked here.
            for_user = body.get(CLAIM + "for_user")
            if for_user is not None and not (isinstance(for_user, dict)
                                             and for_user.get("user_id")):
                raise LaunchError("for_user_invalid",
                                  gettext("The review launch names no learner."))
        else:
            with _refuse("message_invalid", INCOMPLETE):
                super().validate_message()
        return self

    def to_launch(self) -> Launch:
        body: dict[str, Any] = dict(self._jwt["body"])
        presentation = body.get(CLAIM + "launch_presentation") or {}
        for_user = body.get(CLAIM + "for_user") or {}
        nrps = body.get(NRPS_CLAIM) or {}
        return Launch(
            platform_id=self.platform.id,
            deployment_id=body[CLAIM + "deployment_id"],
            message_type=body[MESSAGE_TYPE],
            sub=body["sub"],
            roles=tuple(r for r in body[CLAIM + "roles"] if isinstance(r, str)),
            name=_text(body.get("name")),
            given_name=_text(body.get("given_name")),
            family_name=_text(body.get("family_name")),
            email=_text(body.get("email")),
            username=_text((body.get(CLAIM + "ext") or {}).get("user_username")),
            sourcedid=_text((body.get(CLAIM + "lis") or {}).get("person_sourcedid")),
            context=_mapping(body.get(CLAIM + "context")),
            resource_link=_mapping(body.get(CLAIM + "resource_link")),
            custom=_mapping(body.get(CLAIM + "custom")),
            ags=_mapping(body.get(AGS_CLAIM)),
            nrps_url=_text(nrps.get("context_memberships_url")) or None,
            deep_linking=_mapping(body.get(DL_CLAIM)),
            for_user=_text(for_user.get("user_id")) or None,
            tool_platform=_mapping(body.get(CLAIM + "tool_platform")),
            target_link_uri=body[CLAIM + "target_link_uri"],
            return_url=_text(presentation.get("return_url")) or None,
            locale=_text(presentation.get("locale")) or "en",
            platform_row=self.platform,
            deployment_row=self._deployment_row,
        )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _on_base(url: str, base_url: str) -> bool:
    base = base_url.rstrip("/")
    return url == base or url.startswith(base + "/") or url.startswith(base + "?")


def validate_launch(params: Mapping[str, str], *, secure: bool, store: LaunchStateStore,
                    browser_secret: str | None, base_url: str, leeway: int,
                    nonce_ttl: int) -> Launch:
    """Validate the form Moodle posted to the launch URL; raise :class:`LaunchError`."""
    message = StrictMessageLaunch(params, secure=secure, store=store,
                                  browser_secret=browser_secret, base_url=base_url,
                                  leeway=leeway, nonce_ttl=nonce_ttl)
    return message.validate().to_launch()


def on_base_url(url: str, base_url: str) -> bool:
    """Whether ``url`` is this tool's own (same scheme, host, port and path prefix)."""
    return _on_base(url, base_url)
