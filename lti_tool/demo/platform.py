"""A Moodle 4.5-faithful LTI 1.3 platform stand-in, held in memory.

``MoodleStandIn`` is the platform's state (site, users, courses, tool types, activities, grade
items, grades, keys) plus the Python API tests use to drive it; ``create_platform_app`` (also
available as ``standin.app``) serves Moodle's endpoints over HTTP:

* ``/mod/lti/openid-configuration.php``, ``/mod/lti/openid-registration.php`` (dynamic
  registration), ``/mod/lti/auth.php``, ``/mod/lti/certs.php``, ``/mod/lti/token.php``,
  ``/mod/lti/contentitem_return.php``, ``/mod/lti/return.php``;
* AGS and NRPS under ``/mod/lti/services.php/...``;
* browser pages for the demo (home, course, activity with the tool in an iframe, deep linking,
  gradebook with submission review, Manage tools with dynamic registration).

Everything answers like the recordings in ``shared/moodle/captures`` and Moodle's ``mod/lti``
source. Seed data: users admin (2), learner1 (3), learner2 (4), marker1 (5), als1 (6),
learner3 (7), marker2 (8); courses 2 (CIPD5) and 3 (CMI5). The site admin is not enrolled
(Moodle lists only enrolled users in NRPS) but launches as Administrator + Instructor.
als1 is a non-editing teacher who is also a category manager, as in the capture
``als1_noneditingteacher_plus_category_manager_launch.json``: NRPS therefore lists als1 as
"Instructor"; set ``standin.users[6].category_manager = False`` for a plain non-editing
teacher, whom NRPS lists as "Learner".
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Flask

from lti_tool.demo.keys import PlatformKeyRing, RsaKey, ToolKeysetCache, encode_jws
from lti_tool.demo.messages import (
    DEEP_LINKING,
    MESSAGE_TYPES,
    RESOURCE_LINK,
    SUBMISSION_REVIEW,
    LaunchMessageBuilder,
)
from lti_tool.demo.model import (
    ACTIVE,
    ALL_TOOL_SCOPES,
    EDITING_TEACHER,
    PENDING,
    ROLES,
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_RO,
    SCOPE_NRPS,
    SCOPE_RESULT,
    SCOPE_SCORE,
    SCOPE_TOOL_SETTING,
    STUDENT,
    TEACHER,
    AccessToken,
    Activity,
    Course,
    DeepLinkResult,
    GradeRecord,
    IssuedIdToken,
    LineItem,
    PendingLaunch,
    RecordedRequest,
    ToolRegistration,
    User,
)

__all__ = [
    "MoodleStandIn", "create_platform_app", "LaunchRefused", "ToolRegistration", "Activity",
    "LineItem", "GradeRecord", "RecordedRequest",
]

TOOL_PLATFORM = {
    "product_family_code": "moodle",
    "version": "2024100705.01",
    "guid": "53445e24ad64c0f713af10d3472175a1",
    "name": "moodle45test",
    "description": "Moodle 4.5 test site",
}
RELEASE = "4.5.5+ (Build: 20250613)"
SEED_ACTIVITY_TITLE = "Sample Tool Activity"
SEED_ACTIVITY_DESCRIPTION = "Launches the LTI sample tool."
_ALNUM = string.ascii_letters + string.digits
_DOMAIN_RE = re.compile(r"(?:https?://)?(?:www\.)?([^/]+)(?:/|$)", re.IGNORECASE)


def random_string(length: int) -> str:
    """Moodle's ``random_string``: letters and digits."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def domain_of(url: str) -> str:
    """Moodle's ``lti_get_domain_from_url``: host[:port] without scheme, "www." or path."""
    match = _DOMAIN_RE.match(url or "")
    return match.group(1) if match else ""


def append_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` merged into its query string (existing values replaced)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in params]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def scopes_to_services(scopes: Sequence[str]) -> tuple[int, bool, bool]:
    """(gradesync, memberships, toolsettings) as ``registration_to_config`` derives them."""
    gradesync = 0
    if any(s in scopes for s in (SCOPE_SCORE, SCOPE_RESULT, SCOPE_LINEITEM_RO)):
        gradesync = 1
    if SCOPE_LINEITEM in scopes:
        gradesync = 2
    return gradesync, SCOPE_NRPS in scopes, SCOPE_TOOL_SETTING in scopes


class LaunchRefused(Exception):
    """Moodle would not start this launch (user not in the course, tool pending, ...)."""


@dataclass
class _FailureRule:
    remaining: int
    status: int
    body: str
    only: str | None


@dataclass
class HeldRequest:
    """A server-to-server request the stand-in keeps open (see ``hold_next``): ``arrived``
    is set when it comes in, the request waits for ``release``, and ``answered`` is set once
    the stand-in has handled it as usual (whether or not the caller is still there)."""

    only: str | None
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)


SEED_USERS = [
    # id, username, first, last, idnumber, site admin, category manager
    (2, "admin", "Admin", "User", "", True, False),
    (3, "learner1", "Lena", "Learner", "LEARNER1", False, False),
    (4, "learner2", "Liam", "Learnwell", "LEARNER2", False, False),
    (5, "marker1", "Maria", "Marker", "MARKER1", False, False),
    (6, "als1", "Alex", "Support", "ALS1", False, True),
    (7, "learner3", "Lucy", "Lane", "LEARNER3", False, False),
    (8, "marker2", "Mark", "Marshall", "MARKER2", False, False),
]
SEED_COURSES = [
    (2, "CIPD5", "CIPD L5 People Practice",
     [("learner1", STUDENT), ("learner2", STUDENT), ("marker1", EDITING_TEACHER),
      ("als1", TEACHER)]),
    (3, "CMI5", "CMI L5 Management and Leadership",
     [("learner1", STUDENT), ("learner3", STUDENT), ("marker2", EDITING_TEACHER),
      ("als1", TEACHER)]),
]


class MoodleStandIn:
    """In-memory Moodle 4.5 site acting as the LTI 1.3 platform (see the module docstring).

    All state is guarded by ``self.lock`` (re-entrant); the HTTP handlers take it too, so the
    Python API may be called from a test while the server thread answers the tool.

    Test hooks (plain attributes):

    * ``tamper``: ``Callable[[dict, dict], None] | None``, called once with (jwt header,
      claims) right before the next id_token is signed, then cleared; mutate in place.
    * ``down``: when true every server-to-server endpoint (token.php, services.php, certs.php,
      openid-configuration/registration) answers 503.
    * ``delay_seconds``: sleep this long before answering those endpoints.
    * ``hold_next(only)``: keep the next matching request open until the test releases it.
    * ``strict_assertions``: token.php and contentitem_return.php also check what Moodle
      itself does not (client assertion ``iss``/``aud``/``jti``; deep-linking response ``aud``,
      ``deployment_id``, message type and version). True by default.
    * ``openid_configuration_overrides``: keys replaced in openid-configuration.php's answer
      (e.g. a foreign ``issuer``).
    * ``requests_log``: ``RecordedRequest`` for each token/services/registration request.
    * ``jwks_fetch_count``: GETs of certs.php.
    """

    def __init__(self, base_url: str, *, token_lifetime: int = 60,
                 key: Any = None, tool_platform: Mapping[str, str] | None = None) -> None:
        self.issuer = base_url.rstrip("/")
        self.token_lifetime = token_lifetime
        self.lock = threading.RLock()
        self.keys = PlatformKeyRing(RsaKey.from_any(key) if key is not None else None)
        self.tool_platform: dict[str, str] = dict(tool_platform or TOOL_PLATFORM)
        self.release = RELEASE
        self.tool_keysets = ToolKeysetCache()
        self.messages = LaunchMessageBuilder(self)

        self.users: dict[int, User] = {}
        self.courses: dict[int, Course] = {}
        self.enrolments: dict[tuple[int, int], str] = {}
        self.tools: dict[int, ToolRegistration] = {}
        self.activities: dict[int, Activity] = {}
        self.line_items: dict[int, LineItem] = {}
        self.grades: dict[int, dict[str, GradeRecord]] = {}
        self.pending_launches: dict[str, PendingLaunch] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.issued_id_tokens: list[IssuedIdToken] = []
        self.deep_link_results: list[DeepLinkResult] = []
        self.requests_log: list[RecordedRequest] = []
        self.used_registration_tokens: set[str] = set()
        self.used_assertion_ids: set[tuple[str, str]] = set()

        self.tamper: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
        self.down = False
        self.delay_seconds = 0.0
        self.strict_assertions = True
        self.openid_configuration_overrides: dict[str, Any] = {}
        self.jwks_fetch_count = 0
        self._failures: list[_FailureRule] = []
        self._holds: list[HeldRequest] = []
        self._foreign_key: RsaKey | None = None
        self._sesskeys: dict[int, str] = {}
        self._next_type_id = 1
        self._next_instance_id = 1
        self._next_cmid = 2
        self._next_grade_item_id = 1

        self._seed()
        self.app: Flask = create_platform_app(self)

    # ------------------------------------------------------------------------------ seed data
    def _seed(self) -> None:
        for uid, username, first, last, idnumber, admin, manager in SEED_USERS:
            self.users[uid] = User(uid, username, first, last, f"{username}@example.test",
                                   idnumber, site_admin=admin, category_manager=manager)
        for cid, short, full, members in SEED_COURSES:
            self.courses[cid] = Course(cid, short, full, total_item_id=self._grade_item_id())
            for username, role in members:
                self.enrolments[(cid, self.user(username).id)] = role

    def _grade_item_id(self) -> int:
        value = self._next_grade_item_id
        self._next_grade_item_id += 1
        return value

    # ----------------------------------------------------------------------------- lookups
    def url(self, path: str) -> str:
        """An absolute URL on the stand-in."""
        return self.issuer + path

    def user(self, who: str | int) -> User:
        """A user by username, id or id string (KeyError if unknown)."""
        with self.lock:
            if isinstance(who, int) or (isinstance(who, str) and who.isdigit()):
                return self.users[int(who)]
            for user in self.users.values():
                if user.username == who:
                    return user
        raise KeyError(f"no user {who!r}")

    def tool(self, client_id: str | None = None) -> ToolRegistration:
        """The tool type with ``client_id``, or the first one registered when None."""
        with self.lock:
            if client_id is None:
                if not self.tools:
                    raise LookupError("no tool is registered")
                return self.tools[min(self.tools)]
            for tool in self.tools.values():
                if tool.client_id == client_id:
                    return tool
        raise KeyError(f"no tool with client_id {client_id!r}")

    def tool_by_client_id(self, client_id: str) -> ToolRegistration | None:
        with self.lock:
            return next((t for t in self.tools.values() if t.client_id == client_id), None)

    def enrolment_role(self, course_id: int, user_id: int) -> str | None:
        return self.enrolments.get((course_id, user_id))

    def can_view_course(self, user: User, course_id: int) -> bool:
        return user.site_admin or (course_id, user.id) in self.enrolments

    def can_manage_activities(self, user: User, course_id: int) -> bool:
        """``moodle/course:manageactivities``: admins, editing teachers, category managers."""
        if user.site_admin:
            return True
        role = self.enrolment_role(course_id, user.id)
        return role == EDITING_TEACHER or (role is not None and user.category_manager)

    def is_gradable(self, course_id: int, user_id: int) -> bool:
        return self.enrolment_role(course_id, user_id) == STUDENT

    def sesskey(self, user_id: int) -> str:
        """The user's (stable) session key, as put in return URLs."""
        with self.lock:
            if user_id not in self._sesskeys:
                self._sesskeys[user_id] = random_string(10)
            return self._sesskeys[user_id]

    def user_by_sesskey(self, sesskey: str) -> User | None:
        with self.lock:
            for uid, key in self._sesskeys.items():
                if key == sesskey:
                    return self.users[uid]
        return None

    def activity_items(self, activity_id: int) -> list[LineItem]:
        """The activity's own ("mod") grade items."""
        return sorted((i for i in self.line_items.values()
                       if i.kind == "mod" and i.activity_id == activity_id), key=lambda i: i.id)

    def review_item(self, activity_id: int) -> LineItem | None:
        """The grade item whose submission review Moodle offers for the activity."""
        items = self.activity_items(activity_id)
        return items[0] if items else None

    def bound_line_items(self, activity_id: int) -> list[LineItem]:
        """All line items bound to the resource link (its own + tool-created ones)."""
        return sorted((i for i in self.line_items.values()
                       if (i.kind == "mod" and i.activity_id == activity_id)
                       or (i.kind == "manual" and i.resource_link_id == activity_id)),
                      key=lambda i: i.id)

    def tool_used_in_course(self, type_id: int, course_id: int) -> bool:
        return any(a.type_id == type_id and a.course_id == course_id
                   for a in self.activities.values())

    def lineitem_url(self, item: LineItem) -> str:
        return self.url(f"/mod/lti/services.php/{item.course_id}/lineitems/{item.id}"
                        f"/lineitem?type_id={item.type_id}")

    def memberships_url(self, course_id: int, type_id: int) -> str:
        return self.url(f"/mod/lti/services.php/CourseSection/{course_id}/bindings/{type_id}"
                        "/memberships")

    def grade_for(self, line_item_id: int, user: str | int) -> GradeRecord | None:
        """The grade ``user`` (username or id) holds on a line item, if any."""
        with self.lock:
            return self.grades.get(line_item_id, {}).get(str(self.user(user).id))

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """certs.php's body: the current key and the recently retired ones."""
        return self.keys.jwks()

    @property
    def last_id_token(self) -> IssuedIdToken | None:
        with self.lock:
            return self.issued_id_tokens[-1] if self.issued_id_tokens else None

    # ------------------------------------------------------------------------- users, courses
    def add_user(self, username: str, firstname: str, lastname: str, *,
                 email: str | None = None, idnumber: str = "") -> User:
        with self.lock:
            uid = max(self.users) + 1
            user = User(uid, username, firstname, lastname,
                        email or f"{username}@example.test", idnumber)
            self.users[uid] = user
            return user

    def enrol(self, course_id: int, who: str | int, role: str = STUDENT) -> None:
        """Enrol (or change the role of) a user: role is student, editingteacher or teacher."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        with self.lock:
            self.enrolments[(course_id, self.user(who).id)] = role

    def unenrol(self, course_id: int, who: str | int) -> None:
        with self.lock:
            self.enrolments.pop((course_id, self.user(who).id), None)

    # ------------------------------------------------------------------------------- tools
    def register_tool(self, *, initiate_login_uri: str, redirect_uris: list[str],
                      jwks_uri: str, target_link_uri: str, deep_linking_url: str | None = None,
                      client_id: str | None = None, active: bool = True,
                      scopes: list[str] | None = None, name: str = "AIU",
                      custom_parameters: Mapping[str, str] | None = None,
                      send_name: bool = True, send_email: bool = True,
                      seed_activities: bool = True) -> ToolRegistration:
        """Register a tool by hand, as an admin typing it into Manage tools.

        Generates a 15-character client_id unless given, takes the next tool type id as the
        deployment id, grants ``scopes`` (default: all AGS scopes and NRPS) and, unless
        ``seed_activities`` is false, adds one activity with a 100-point line item to each
        seeded course.
        """
        granted = list(ALL_TOOL_SCOPES if scopes is None else scopes)
        gradesync, memberships, toolsettings = scopes_to_services(granted)
        with self.lock:
            if client_id is not None and self.tool_by_client_id(client_id):
                raise ValueError(f"client_id {client_id!r} is already registered")
            tool = ToolRegistration(
                type_id=self._next_type_id, client_id=client_id or random_string(15),
                name=name, initiate_login_uri=initiate_login_uri,
                redirect_uris=list(redirect_uris), jwks_uri=jwks_uri,
                target_link_uri=target_link_uri, domain=domain_of(target_link_uri),
                deep_linking_url=deep_linking_url, status=ACTIVE if active else PENDING,
                custom_parameters=dict(custom_parameters or {}), send_name=send_name,
                send_email=send_email, gradesync=gradesync, memberships=memberships,
                toolsettings=toolsettings, servicesalt=self._servicesalt())
            self._next_type_id += 1
            self.tools[tool.type_id] = tool
            if seed_activities:
                self._seed_activities(tool)
            return tool

    @staticmethod
    def _servicesalt() -> str:
        return f"{secrets.token_hex(7)[:13]}.{10_000_000 + secrets.randbelow(90_000_000)}"

    def _seed_activities(self, tool: ToolRegistration) -> None:
        for course_id in sorted(self.courses):
            self.add_activity(course_id, title=SEED_ACTIVITY_TITLE,
                              description=SEED_ACTIVITY_DESCRIPTION, client_id=tool.client_id)

    def activate(self, client_id: str, *, seed_activities: bool = True) -> ToolRegistration:
        """Mark a pending tool Active (the admin's "Activate"); seeds activities if it has
        none and ``seed_activities``."""
        with self.lock:
            tool = self.tool(client_id)
            tool.status = ACTIVE
            has_activities = any(a.type_id == tool.type_id for a in self.activities.values())
            if seed_activities and not has_activities:
                self._seed_activities(tool)
            return tool

    def add_activity(self, course_id: int, *, title: str, client_id: str | None = None,
                     line_items: int | Sequence[Mapping[str, Any]] = 1, description: str = "",
                     url: str | None = None, custom: Mapping[str, str] | None = None,
                     from_deep_linking: bool = False) -> Activity:
        """Add an LTI activity of the tool to a course.

        ``line_items``: a count or a list of AGS-style dicts (``label``, ``scoreMaximum``,
        ``resourceId``, ``tag``, ``submissionReview``). The first becomes the activity's own
        grade item (named after the activity, like Moodle; default maximum 100); the others
        are added as tool-created ("manual") items bound to the link, so a link with two items
        gets no ``lineitem`` in its launches.
        """
        with self.lock:
            tool = self.tool(client_id)
            if course_id not in self.courses:
                raise KeyError(f"no course {course_id}")
            activity = Activity(id=self._next_instance_id, cmid=self._next_cmid,
                                course_id=course_id, type_id=tool.type_id, title=title,
                                description=description, tool_url=url or "",
                                custom=dict(custom or {}), from_deep_linking=from_deep_linking)
            self._next_instance_id += 1
            self._next_cmid += 1
            self.activities[activity.id] = activity
            specs: list[Mapping[str, Any]]
            if isinstance(line_items, int):
                specs = [{} for _ in range(line_items)]
            else:
                specs = list(line_items)
            for index, spec in enumerate(specs):
                review = spec.get("submissionReview")
                self.add_line_item(
                    course_id, label=title if index == 0 else spec.get("label", title),
                    score_maximum=float(spec.get("scoreMaximum", 100)),
                    client_id=tool.client_id, resource_link_id=activity.id,
                    resource_id=str(spec.get("resourceId", "") or ""),
                    tag=str(spec.get("tag", "") or ""),
                    kind="mod" if index == 0 else "manual",
                    submission_review=_review_record(review) if review else None)
            return activity

    def add_line_item(self, course_id: int, *, label: str, score_maximum: float = 100,
                      client_id: str | None = None, resource_link_id: int | None = None,
                      resource_id: str = "", tag: str = "", kind: str = "manual",
                      submission_review: Mapping[str, Any] | None = None) -> LineItem:
        """Add a grade item visible through AGS ("mod": the activity's own item, needs
        ``resource_link_id``; "manual": as if the tool had POSTed it)."""
        with self.lock:
            tool = self.tool(client_id)
            item = LineItem(
                id=self._grade_item_id(), course_id=course_id, type_id=tool.type_id,
                label=label, score_maximum=float(score_maximum), kind=kind,
                activity_id=resource_link_id if kind == "mod" else None,
                resource_link_id=resource_link_id, resource_id=resource_id, tag=tag,
                submission_review=dict(submission_review) if submission_review else None)
            self.line_items[item.id] = item
            return item

    # ------------------------------------------------------------------------- registration
    def start_registration(self, tool_registration_url: str, *,
                           update_client_id: str | None = None) -> str:
        """The URL Moodle opens in its iframe for "Add LTI Advantage".

        Appends ``openid_configuration`` and a fresh ``registration_token`` (RS256, scope
        "reg", valid one hour, single use) to the tool's URL, keeping its own query. With
        ``update_client_id`` the token has scope "reg-update" and the registration updates
        that tool (same client_id and deployment id), as Moodle's "Update" choice.
        """
        now = int(time.time())
        if update_client_id is not None:
            claims: dict[str, Any] = {"sub": str(self.tool(update_client_id).type_id),
                                      "scope": "reg-update", "iat": now, "exp": now + 3600}
        else:
            claims = {"sub": random_string(15), "scope": "reg", "iat": now, "exp": now + 3600}
        key = self.keys.current
        token = encode_jws({"typ": "JWT", "alg": "RS256", "kid": key.kid}, claims, key)
        return append_query(tool_registration_url, {
            "openid_configuration": self.url("/mod/lti/openid-configuration.php"),
            "registration_token": token,
        })

    def tools_on_domain(self, url: str) -> list[ToolRegistration]:
        """Registered tools whose domain matches ``url``'s (Moodle then offers "Update")."""
        domain = domain_of(url)
        with self.lock:
            return [t for t in self.tools.values() if t.domain == domain]

    # ------------------------------------------------------------------------------ launches
    def login_initiation(self, username: str | int, activity_id: int | None = None, *,
                         message_type: str = RESOURCE_LINK, client_id: str | None = None,
                         for_user: str | int | None = None, course_id: int | None = None
                         ) -> tuple[str, dict[str, str]]:
        """Start a launch as Moodle's launch.php does: (tool login URL, fields to POST).

        The fields are ``iss``, ``target_link_uri``, ``login_hint`` (the user id),
        ``lti_message_hint`` (``{"cmid":N,"launchid":"ltilaunchI_R"}``), ``client_id`` and
        ``lti_deployment_id``. The launch waits server-side, keyed by its launchid, until
        auth.php consumes it (once).

        * Resource link / submission review: ``activity_id`` (the resource link id); when
          omitted, the first activity of ``course_id`` (default 2) for the tool.
        * ``LtiSubmissionReviewRequest``: ``for_user`` names the learner; None mimics Moodle
          5.1's column-header "View results" (no ``for_user`` claim). The target is the grade
          item's submission review URL when deep linking set one.
        * ``LtiDeepLinkingRequest``: no activity; ``course_id`` defaults to 2; the user must
          be able to manage activities there.

        Raises ``LaunchRefused`` where Moodle would refuse (tool pending, user not in the
        course, no deep linking, ...).
        """
        if message_type not in MESSAGE_TYPES:
            raise ValueError(f"message_type must be one of {MESSAGE_TYPES}")
        with self.lock:
            user = self.user(username)
            activity: Activity | None = None
            for_user_id: int | None = None
            if message_type == DEEP_LINKING:
                if activity_id is not None:
                    raise ValueError("a deep linking request has no activity")
                tool = self.tool(client_id)
                course = self.courses[course_id or 2]
                if not self.can_manage_activities(user, course.id):
                    raise LaunchRefused(
                        "Sorry, but you do not currently have permissions to do that "
                        "(Add new external tool activities).")
                if not tool.deep_linking_url:
                    raise LaunchRefused("This tool does not support content selection.")
                target = tool.deep_linking_url
                launch_id = f"ltilaunch_ContentItemSelectionRequest{secrets.randbelow(2**31)}"
                hint: dict[str, Any] = {"launchid": launch_id}
            else:
                activity = self._pick_activity(activity_id, course_id, client_id)
                tool = self.tools[activity.type_id]
                course = self.courses[activity.course_id]
                target = activity.tool_url or tool.target_link_uri
                if message_type == SUBMISSION_REVIEW:
                    if for_user is not None:
                        for_user_id = self.user(for_user).id
                    review = self.review_item(activity.id)
                    if review and review.submission_review and review.submission_review.get(
                            "url"):
                        target = str(review.submission_review["url"])
                launch_id = f"ltilaunch{activity.id}_{secrets.randbelow(2**31)}"
                hint = {"cmid": activity.cmid, "launchid": launch_id}
            if not self.can_view_course(user, course.id):
                raise LaunchRefused(
                    f"{user.username} is not enrolled in course {course.id} ({course.shortname})")
            if not tool.active:
                raise LaunchRefused(
                    f"The tool '{tool.name}' is pending: a site administrator must activate it "
                    "in Manage tools before it can be used.")
            self.pending_launches[launch_id] = PendingLaunch(
                launch_id=launch_id, user_id=user.id, course_id=course.id,
                type_id=tool.type_id, message_type=message_type,
                activity_id=activity.id if activity else None, for_user_id=for_user_id,
                target_link_uri=target)
            fields = {
                "iss": self.issuer,
                "target_link_uri": target,
                "login_hint": str(user.id),
                "lti_message_hint": json.dumps(hint, separators=(",", ":")),
                "client_id": tool.client_id,
                "lti_deployment_id": tool.deployment_id,
            }
            return tool.initiate_login_uri, fields

    def _pick_activity(self, activity_id: int | None, course_id: int | None,
                       client_id: str | None) -> Activity:
        if activity_id is not None:
            activity = self.activities.get(int(activity_id))
            if activity is None:
                raise KeyError(f"no activity {activity_id}")
            if client_id is not None and self.tools[activity.type_id].client_id != client_id:
                raise ValueError(f"activity {activity_id} belongs to another tool")
            return activity
        tool = self.tool(client_id)
        wanted = course_id or 2
        for activity in sorted(self.activities.values(), key=lambda a: a.id):
            if activity.course_id == wanted and activity.type_id == tool.type_id:
                return activity
        raise KeyError(f"course {wanted} has no activity of tool {tool.client_id}")

    def sign_id_token(self, claims: dict[str, Any], redirect_uri: str = "") -> str:
        """Sign launch claims as auth.php does (after the one-shot ``tamper`` hook)."""
        with self.lock:
            key = self.keys.current
            header: dict[str, Any] = {"typ": "JWT", "alg": "RS256", "kid": key.kid}
            tamper, self.tamper = self.tamper, None
            if tamper is not None:
                tamper(header, claims)
            signer = self._foreign_key or key
            token = encode_jws(header, claims, signer)
            self.issued_id_tokens.append(IssuedIdToken(header, claims, token, redirect_uri))
            return token

    # ---------------------------------------------------------------------------- test hooks
    def sign_with_key(self, key: Any = None) -> None:
        """Sign id_tokens with a foreign key (JWK dict, PEM, cryptography key) until called
        with None. The header keeps the stand-in's current kid (use ``tamper`` to change it),
        so a tool sees a known kid whose signature does not verify."""
        with self.lock:
            self._foreign_key = None if key is None else RsaKey.from_any(key)

    def rotate_platform_key(self) -> str:
        """A new current signing key (new kid); the old one stays in certs.php. Returns the
        new kid."""
        return self.keys.rotate().kid

    def fail_next(self, n: int, status: int = 500, body: str = "", *,
                  only: str | None = None) -> None:
        """Answer the next ``n`` server-to-server requests with ``status``/``body``.

        ``only`` limits the rule to one kind ("token", "ags", "nrps", "certs",
        "registration", "openid-configuration") or to paths containing that text.
        """
        with self.lock:
            self._failures.append(_FailureRule(n, status, body, only))

    def reset_failures(self) -> None:
        with self.lock:
            self._failures.clear()
            self.down = False
            self.delay_seconds = 0.0

    def hold_next(self, only: str | None = None) -> HeldRequest:
        """Keep the next server-to-server request matching ``only`` (as for ``fail_next``)
        open until ``release`` is set on the returned hold (at most five minutes), then
        answer it as usual: a caller that dies meanwhile dies mid-request."""
        hold = HeldRequest(only)
        with self.lock:
            self._holds.append(hold)
        return hold

    def take_hold(self, kind: str, path: str) -> HeldRequest | None:
        """The hold waiting for this request, if any (each hold takes one request)."""
        with self.lock:
            for hold in self._holds:
                if hold.only is None or hold.only == kind or hold.only in path:
                    self._holds.remove(hold)
                    return hold
        return None

    def take_failure(self, kind: str, path: str) -> tuple[int, str] | None:
        """Consume an injected failure matching this request, if any."""
        with self.lock:
            for rule in self._failures:
                if rule.remaining > 0 and (rule.only is None or rule.only == kind
                                           or rule.only in path):
                    rule.remaining -= 1
                    status, body = rule.status, rule.body
                    self._failures = [r for r in self._failures if r.remaining > 0]
                    return status, body
        return None

    def issue_access_token(self, client_id: str | None = None,
                           scopes: Sequence[str] | None = None, *, lifetime: int = 3600) -> str:
        """An access token as token.php would grant (bypassing the client assertion)."""
        with self.lock:
            tool = self.tool(client_id)
            granted = [s for s in (scopes or tool.permitted_scopes())
                       if s in tool.permitted_scopes()]
            token = secrets.token_hex(16)
            self.access_tokens[token] = AccessToken(token, tool.type_id, granted,
                                                    time.time() + lifetime)
            return token


def _review_record(review: Mapping[str, Any]) -> dict[str, Any] | None:
    """What Moodle keeps of a ``submissionReview``: its url and custom parameters."""
    url = review.get("url")
    custom = review.get("custom") or {}
    if not url and not custom:
        return None
    return {"url": url or "", "custom": dict(custom)}


def create_platform_app(standin: MoodleStandIn) -> Flask:
    """The Flask (WSGI) app serving ``standin``'s endpoints and demo pages."""
    from lti_tool.demo.endpoints import register_lti_endpoints
    from lti_tool.demo.pages import register_demo_pages
    from lti_tool.demo.services import register_services

    # The pages' scripts are files (the tool's pages allow no inline script; these follow).
    app = Flask("lti_tool.demo", template_folder=str(_templates_dir()),
                static_folder=str(Path(__file__).resolve().parents[1] / "static"))
    app.config["SECRET_KEY"] = secrets.token_hex(16)
    register_lti_endpoints(app, standin)
    register_services(app, standin)
    register_demo_pages(app, standin)
    return app


def _templates_dir() -> Any:
    return Path(__file__).resolve().parents[2] / "templates"
