"""The Moodle stand-in's records: users, courses, tool types, activities, grade items, grades.

Plain dataclasses held in memory by ``MoodleStandIn`` (which guards them with its lock). Ids
follow Moodle's numbering: users and courses from 2 (1 is the guest user / the front page),
tool types (= deployment ids) from 1, activities (= resource link ids) from 1, grade items
share one counter with the course total items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Scopes (mod/lti/classes/local/ltiopenid/registration_helper.php).
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_LINEITEM_RO = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
SCOPE_TOOL_SETTING = "https://purl.imsglobal.org/spec/lti-ts/scope/toolsetting"
SCOPE_BASIC_OUTCOME = "https://purl.imsglobal.org/spec/lti-bo/scope/basicoutcome"
ALL_TOOL_SCOPES = [SCOPE_LINEITEM, SCOPE_LINEITEM_RO, SCOPE_RESULT, SCOPE_SCORE, SCOPE_NRPS]

# Enrolment roles (Moodle role shortnames).
STUDENT = "student"
EDITING_TEACHER = "editingteacher"
TEACHER = "teacher"  # non-editing teacher
ROLES = (STUDENT, EDITING_TEACHER, TEACHER)

PENDING = "pending"
ACTIVE = "active"


@dataclass
class User:
    id: int
    username: str
    firstname: str
    lastname: str
    email: str
    idnumber: str = ""
    site_admin: bool = False
    # Holds moodle/course:manageactivities through a category role (Moodle's "Manager" at
    # category level): NRPS then lists the user as Instructor whatever the course role.
    category_manager: bool = False
    # The user's language: Moodle sends it as the launch's locale.
    lang: str = "en"

    @property
    def fullname(self) -> str:
        return f"{self.firstname} {self.lastname}"


@dataclass
class Course:
    id: int
    shortname: str
    fullname: str
    idnumber: str = ""
    total_item_id: int = 0  # the course total grade item (never shown through AGS)


@dataclass
class ToolRegistration:
    """One external tool type (``lti_types`` + ``lti_types_config``).

    ``deployment_id`` is the type id as a string, as Moodle sends it. ``status`` is "pending"
    for a dynamically registered tool until ``MoodleStandIn.activate``.
    """

    type_id: int
    client_id: str
    name: str
    initiate_login_uri: str
    redirect_uris: list[str]
    jwks_uri: str
    target_link_uri: str
    domain: str
    deep_linking_url: str | None = None
    status: str = ACTIVE
    description: str = ""
    logo_uri: str = ""
    custom_parameters: dict[str, str] = field(default_factory=dict)
    send_name: bool = True
    send_email: bool = True
    gradesync: int = 2  # 0 off, 1 grade sync only, 2 grade sync and column management
    memberships: bool = True
    toolsettings: bool = False
    servicesalt: str = ""
    registered_dynamically: bool = False

    @property
    def deployment_id(self) -> str:
        return str(self.type_id)

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    @property
    def deep_linking(self) -> bool:
        return bool(self.deep_linking_url)

    def ags_scopes(self) -> list[str]:
        """The scopes listed in the launch's AGS endpoint claim, in Moodle's order."""
        if self.gradesync <= 0:
            return []
        scopes = [SCOPE_LINEITEM] if self.gradesync == 2 else []
        return scopes + [SCOPE_LINEITEM_RO, SCOPE_RESULT, SCOPE_SCORE]

    def permitted_scopes(self) -> list[str]:
        """Scopes token.php may grant to this tool."""
        scopes = list(self.ags_scopes())
        if self.gradesync > 0:
            scopes.append(SCOPE_BASIC_OUTCOME)
        if self.memberships:
            scopes.append(SCOPE_NRPS)
        if self.toolsettings:
            scopes.append(SCOPE_TOOL_SETTING)
        return scopes

    def registration_scopes(self) -> list[str]:
        """Scopes echoed in a registration answer (``config_to_registration`` order)."""
        scopes: list[str] = []
        if self.gradesync > 0:
            scopes += [SCOPE_SCORE, SCOPE_RESULT, SCOPE_LINEITEM_RO]
        if self.gradesync == 2:
            scopes.append(SCOPE_LINEITEM)
        if self.memberships:
            scopes.append(SCOPE_NRPS)
        if self.toolsettings:
            scopes.append(SCOPE_TOOL_SETTING)
        return scopes


@dataclass
class Activity:
    """An LTI activity (``lti`` instance). ``id`` is the resource link id tools see; ``cmid``
    is the course module id used in Moodle URLs (``/mod/lti/view.php?id=<cmid>``)."""

    id: int
    cmid: int
    course_id: int
    type_id: int
    title: str
    description: str = ""
    tool_url: str = ""  # "" means the tool's target_link_uri
    custom: dict[str, str] = field(default_factory=dict)
    from_deep_linking: bool = False


@dataclass
class LineItem:
    """A grade item visible through AGS.

    ``kind`` is "mod" for the activity's own grade item (created with the activity or by deep
    linking) and "manual" for items a tool created with a line items POST.
    ``submission_review`` is ``{"url": ..., "custom": {...}}`` or None.
    """

    id: int
    course_id: int
    type_id: int
    label: str
    score_maximum: float
    kind: str = "mod"
    activity_id: int | None = None  # the activity owning a "mod" item
    resource_link_id: int | None = None
    resource_id: str = ""
    tag: str = ""
    submission_review: dict[str, Any] | None = None


_GRADE_KEYS = {
    "scoreGiven": "score_given", "scoreMaximum": "score_maximum", "comment": "comment",
    "timestamp": "timestamp", "activityProgress": "activity_progress",
    "gradingProgress": "grading_progress", "finalGrade": "final_grade",
    "userId": "user_id",
}


@dataclass
class GradeRecord:
    """The grade a learner holds on one line item after the last accepted score.

    ``score_given``/``score_maximum`` are as posted (``score_given`` is None when the score
    cleared the grade); ``final_grade`` is scaled to the line item's maximum like Moodle's
    gradebook (None when cleared); ``comment`` is the learner-visible feedback (None if the
    last score had none); ``timemodified`` is the posted timestamp in whole seconds.
    Also readable with the AGS names: ``record["scoreGiven"]``, ``record["gradingProgress"]``.
    """

    user_id: str
    line_item_id: int
    score_given: float | None
    score_maximum: float | None
    final_grade: float | None
    comment: str | None
    timestamp: str
    timemodified: int
    activity_progress: str
    grading_progress: str
    raw: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, _GRADE_KEYS.get(key, key))


@dataclass
class PendingLaunch:
    """What Moodle keeps in ``$SESSION->{launchid}`` between login initiation and auth.php."""

    launch_id: str
    user_id: int
    course_id: int
    type_id: int
    message_type: str
    activity_id: int | None = None
    for_user_id: int | None = None
    target_link_uri: str = ""


@dataclass
class AccessToken:
    token: str
    type_id: int
    scopes: list[str]
    valid_until: float


@dataclass
class RecordedRequest:
    """A server-to-server request the stand-in answered (token.php, services.php, registration).

    ``json`` is the parsed JSON body (None if none or not JSON); ``form`` the form fields;
    ``authorization`` the raw Authorization header (None if absent).
    """

    method: str
    path: str
    query: dict[str, str]
    url: str
    headers: dict[str, str]
    content_type: str | None
    authorization: str | None
    json: Any
    form: dict[str, str]
    status: int = 0
    response_body: str = ""

    @property
    def has_authorization(self) -> bool:
        return self.authorization is not None


@dataclass
class IssuedIdToken:
    """An id_token auth.php answered with (after ``tamper``): for tests to inspect."""

    header: dict[str, Any]
    claims: dict[str, Any]
    token: str
    redirect_uri: str


@dataclass
class DeepLinkResult:
    """The outcome of one contentitem_return.php POST."""

    ok: bool
    message: str
    course_id: int | None = None
    activity_ids: list[int] = field(default_factory=list)
    claims: dict[str, Any] = field(default_factory=dict)
