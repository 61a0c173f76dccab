"""LTI Advantage services of the stand-in: AGS (line items, scores, results) and NRPS.

Served under ``/mod/lti/services.php/...`` with Moodle 4.5's routing and answers:

* The router (``mod/lti/services.php``) only picks a resource whose media types match: a GET
  whose Accept is set, has no ``*/*`` and is not one of the resource's types, or a POST/PUT
  whose Content-Type is not *exactly* one of them (parameters such as ``; charset=utf-8``
  included), gets **400**; a method the resource lacks gets 405.
* Bearer tokens are checked against the ``type_id`` query parameter (AGS) or the
  ``bindings/<type_id>`` path part (NRPS): no ``type_id``, a token of another tool, an expired
  token or one without a required scope gives **401**.
* ``LineItemsResource`` (GET: ``resource_link_id``/``lti_link_id``, ``resource_id``, ``tag``,
  ``limit``/``from`` with Moodle's curly-quoted ``Link`` header; POST: manual items, the
  request echoed back with ``id``, ``submissionReview`` not kept), ``LineItemResource`` (GET,
  PUT: ``submissionReview`` kept only on tool-created items, DELETE of tool-created items),
  ``ScoresResource`` (409 for a timestamp not later to the second; clearing scores),
  ``ResultsResource`` (``resultScore`` omitted for a 0 or cleared grade),
  ``MembershipsResource`` (short role names, ``rlid``/``role``/``limit``/``from``, a
  ``Link: <...>; rel="next"`` header that, like Moodle's, drops the ``role`` filter).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Flask, Response, request

from lti_tool.demo.messages import LaunchMessageBuilder
from lti_tool.demo.model import (
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_RO,
    SCOPE_NRPS,
    SCOPE_RESULT,
    SCOPE_SCORE,
    AccessToken,
    GradeRecord,
    LineItem,
    ToolRegistration,
)
from lti_tool.demo.serverside import latin1_header, number, php_json, server_side
from lti_tool.demo.serverside import service_response as respond

if TYPE_CHECKING:
    from lti_tool.demo.platform import MoodleStandIn

LINEITEM_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
RESULT_CONTAINER = "application/vnd.ims.lis.v2.resultcontainer+json"
SCORE_CONTAINER = "application/vnd.ims.lis.v1.scorecontainer+json"
SCORE = "application/vnd.ims.lis.v1.score+json"
NRPS_CONTAINER = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
LIS_MEMBERSHIP_CONTAINER = "application/vnd.ims.lis.v2.membershipcontainer+json"
ROLE_PREFIX = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
_ISO8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


class ServiceError(Exception):
    """Ends a request with Moodle's error answer (``reason`` "" means the standard one)."""

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


def _is_numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def parse_timestamp(value: Any) -> int | None:
    """An ISO 8601 timestamp as whole epoch seconds (PHP's ``strtotime``), None if invalid."""
    if not isinstance(value, str) or not _ISO8601.match(value):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() // 1)


def moodle_url_out(base: str, params: list[tuple[str, Any]]) -> str:
    """``moodle_url::out()``: query joined with "&amp;" (HTML-escaped), as Moodle prints it."""
    return base + "?" + urlencode([(k, str(v)) for k, v in params]).replace("&", "&amp;")


class ServiceBase:
    """Common checks of ``resource_base::check_tool`` and ``service_base::check_tool``."""

    def __init__(self, standin: MoodleStandIn) -> None:
        self.standin = standin

    def check_token(self, type_id: int | None, scopes: list[str]) -> ToolRegistration:
        """The tool whose Bearer token authorises this request, else ServiceError(401)."""
        s = self.standin
        auth = request.headers.get("Authorization", "")
        if not type_id or not auth.startswith("Bearer "):
            raise ServiceError(401)
        with s.lock:
            token: AccessToken | None = s.access_tokens.get(auth[7:].strip())
            tool = s.tools.get(type_id)
        if token is None or token.type_id != type_id or token.valid_until <= time.time():
            raise ServiceError(401)
        if tool is None or not set(scopes) & set(token.scopes):
            raise ServiceError(401)
        if not set(scopes) & set(tool.permitted_scopes()):
            raise ServiceError(401)
        return tool

    def course_or_404(self, course_id: int) -> None:
        if course_id not in self.standin.courses:
            raise ServiceError(404, f"Not Found: Course {course_id} doesn't exist")

    def item_or_404(self, course_id: int, item_id: int, type_id: int,
                    missing_status: int = 404) -> LineItem:
        s = self.standin
        known = item_id in s.line_items or any(c.total_item_id == item_id
                                               for c in s.courses.values())
        if not known:
            raise ServiceError(404, f"Not Found: Grade item {item_id} doesn't exist")
        item = s.line_items.get(item_id)
        if item is None or item.course_id != course_id or item.type_id != type_id:
            raise ServiceError(missing_status, "Line item does not exist")
        return item

    def item_json(self, item: LineItem) -> dict[str, Any]:
        """``gradebookservices::item_for_json``."""
        doc: dict[str, Any] = {
            "id": self.standin.lineitem_url(item),
            "label": item.label,
            "scoreMaximum": number(item.score_maximum),
            "resourceId": item.resource_id,
            "tag": item.tag,
        }
        if item.resource_link_id is not None:
            doc["resourceLinkId"] = str(item.resource_link_id)
            doc["ltiLinkId"] = str(item.resource_link_id)
        review = item.submission_review
        if review and review.get("url"):
            doc["submissionReview"] = {"url": review["url"]}
            if review.get("custom"):
                doc["submissionReview"]["custom"] = dict(review["custom"])
        return doc

    def valid_link(self, value: Any, course_id: int, type_id: int) -> int | None:
        """``check_lti_1x_id``: the resource link id if it names an activity of the tool in
        the course, else None."""
        if not _is_numeric(value) or not str(value).isdigit():
            return None
        activity = self.standin.activities.get(int(value))
        if activity is None or activity.course_id != course_id or activity.type_id != type_id:
            return None
        return activity.id


class LineItemsResource(ServiceBase):
    formats = [LINEITEM_CONTAINER, LINEITEM]
    methods = ["GET", "POST"]

    def handle(self, course_id: int) -> Response:
        is_get = request.method == "GET"
        ctype = (request.headers.get("Accept", "") if is_get
                 else request.headers.get("Content-Type", ""))
        container = not ctype or ctype == self.formats[0]
        scopes = [SCOPE_LINEITEM] + ([SCOPE_LINEITEM_RO] if is_get else [])
        tool = self.check_token(_int_arg("type_id"), scopes)
        if not (container ^ (request.method == "POST")) or (ctype and ctype not in self.formats):
            raise ServiceError(400, "No context or unsupported content type")
        self.course_or_404(course_id)
        with self.standin.lock:
            if is_get:
                return self._list(course_id, tool)
            return self._create(course_id, tool)

    def _list(self, course_id: int, tool: ToolRegistration) -> Response:
        s = self.standin
        resource_id = request.args.get("resource_id")
        link_id = request.args.get("resource_link_id", request.args.get("lti_link_id"))
        tag = request.args.get("tag")
        items = sorted((i for i in s.line_items.values()
                        if i.course_id == course_id and i.type_id == tool.type_id),
                       key=lambda i: i.id)
        if resource_id is not None:
            items = [i for i in items if i.resource_id == resource_id]
        if link_id is not None:
            items = [i for i in items if str(i.resource_link_id) == link_id]
        if tag is not None:
            items = [i for i in items if i.tag == tag]
        total = len(items)
        limit = _int_arg("limit") or 0
        start = _int_arg("from") or 0
        headers: dict[str, str] = {}
        if limit > 0:
            items = items[start:start + limit]
            headers["Link"] = self._links(course_id, tool.type_id, resource_id, link_id, tag,
                                          start, limit, total)
        body = php_json([self.item_json(i) for i in items])
        return respond(200, body=body, content_type=LINEITEM_CONTAINER, headers=headers)

    def _links(self, course_id: int, type_id: int, resource_id: str | None,
               link_id: str | None, tag: str | None, start: int, limit: int,
               total: int) -> str:
        """Moodle's paging header, typographic quotes (“next”) and "&amp;" included."""
        base = self.standin.url(f"/mod/lti/services.php/{course_id}/lineitems")
        params: list[tuple[str, Any]] = []
        if resource_id is not None:
            params.append(("resource_id", resource_id))
        if link_id is not None:
            params.append(("resource_link_id", link_id))
        if tag is not None:
            params.append(("tag", tag))
        params += [("type_id", type_id), ("limit", limit)]
        out_of_range = start >= total or start < 0
        prev_from = start - limit if start - limit >= 0 else 0
        last_from = total - limit + 1 if total - limit + 1 >= 0 else 0
        next_from = start + limit
        links = f"<{moodle_url_out(base, params + [('from', 0)])}>; rel=“first”"
        if start > 0 and not out_of_range:
            links += f", <{moodle_url_out(base, params + [('from', prev_from)])}>; rel=“prev”"
        links += f", <{moodle_url_out(base, params + [('from', start)])}>; rel=“canonical”"
        if next_from <= total - 1 and not out_of_range:
            links += f", <{moodle_url_out(base, params + [('from', next_from)])}>; rel=“next”"
        links += f", <{moodle_url_out(base, params + [('from', last_from)])}>; rel=“last”"
        return latin1_header(links)

    def _create(self, course_id: int, tool: ToolRegistration) -> Response:
        try:
            body = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            body = None
        if not body or not isinstance(body, dict) or body.get("scoreMaximum") is None or (
                body.get("label") is None):
            raise ServiceError(400, "No label or Score Maximum")
        if not _is_numeric(body["scoreMaximum"]):
            raise ServiceError(400)
        link = body.get("resourceLinkId", body.get("ltiLinkId"))
        link_id: int | None = None
        if link is not None:
            link_id = self.valid_link(link, course_id, tool.type_id)
            if link_id is None:
                raise ServiceError(403)
        item = self.standin.add_line_item(
            course_id, label=str(body["label"]), score_maximum=float(body["scoreMaximum"]),
            client_id=tool.client_id, resource_link_id=link_id,
            resource_id=str(body.get("resourceId") or ""), tag=str(body.get("tag") or ""),
            kind="manual")
        echo = dict(body)
        echo["id"] = self.standin.lineitem_url(item)
        return respond(201, body=php_json(echo, escape_slashes=False), content_type=LINEITEM)


class LineItemResource(ServiceBase):
    formats = [LINEITEM]
    methods = ["GET", "PUT", "DELETE"]

    def handle(self, course_id: int, item_id: int) -> Response:
        scopes = [SCOPE_LINEITEM] + ([SCOPE_LINEITEM_RO] if request.method == "GET" else [])
        tool = self.check_token(_int_arg("type_id"), scopes)
        self.course_or_404(course_id)
        with self.standin.lock:
            item = self.item_or_404(course_id, item_id, tool.type_id)
            if request.method == "GET":
                return respond(200, body=php_json(self.item_json(item)), content_type=LINEITEM)
            if request.method == "PUT":
                return self._update(item, tool)
            if item.kind != "manual":
                raise ServiceError(403)
            del self.standin.line_items[item.id]
            self.standin.grades.pop(item.id, None)
            return respond(204)

    def _update(self, item: LineItem, tool: ToolRegistration) -> Response:
        try:
            body = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            body = None
        if not body or not isinstance(body, dict) or body.get("scoreMaximum") is None or (
                body.get("label") is None):
            raise ServiceError(400)
        if not _is_numeric(body["scoreMaximum"]):
            raise ServiceError(400)
        link = body.get("resourceLinkId", body.get("ltiLinkId"))
        link_id: int | None = None
        if link is not None:
            if not _is_numeric(link):
                raise ServiceError(400)
            link_id = self.valid_link(link, item.course_id, tool.type_id)
            if link_id is None:
                raise ServiceError(403)
        new_max = float(body["scoreMaximum"])
        if new_max != item.score_maximum and item.score_maximum:
            for record in self.standin.grades.get(item.id, {}).values():
                if record.final_grade is not None:
                    record.final_grade = record.final_grade * new_max / item.score_maximum
        item.label = str(body["label"])
        item.score_maximum = new_max
        item.resource_id = str(body.get("resourceId") or "")
        item.tag = str(body.get("tag") or "")
        if item.kind == "manual":
            if link is not None:
                item.resource_link_id = link_id
            review = body.get("submissionReview")
            item.submission_review = None
            if isinstance(review, dict) and (review.get("url") or review.get("custom")):
                item.submission_review = {"url": str(review.get("url") or ""),
                                          "custom": dict(review.get("custom") or {})}
        echo = dict(body)
        echo["id"] = self.standin.lineitem_url(item)
        return respond(200, body=php_json(echo, escape_slashes=False), content_type=LINEITEM)


class ScoresResource(ServiceBase):
    formats = [SCORE_CONTAINER, SCORE]
    methods = ["POST"]

    def handle(self, course_id: int, item_id: int) -> Response:
        s = self.standin
        tool = self.check_token(_int_arg("type_id"), [SCOPE_SCORE])
        ctype = request.headers.get("Content-Type", "")
        container = not ctype or ctype == self.formats[0]
        if container or (ctype and ctype not in self.formats):
            raise ServiceError(400)
        if course_id not in s.courses:
            raise ServiceError(404, f"Not Found: Course {course_id} doesn't exist.")
        with s.lock:
            if item_id not in s.line_items and not any(
                    c.total_item_id == item_id for c in s.courses.values()):
                raise ServiceError(404, f"Not Found: Grade item {item_id} doesn't exist.")
            item = s.line_items.get(item_id)
            if item is None or item.course_id != course_id or item.type_id != tool.type_id:
                raise ServiceError(403, "Line item does not exist.")
            self._save(item, course_id)
        return respond(200, content_type=SCORE)

    def _save(self, item: LineItem, course_id: int) -> None:
        s = self.standin
        try:
            score = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            score = None
        bad = (not score or not isinstance(score, dict)
               or any(score.get(k) is None for k in ("userId", "timestamp", "gradingProgress",
                                                     "activityProgress")))
        moment = parse_timestamp(score.get("timestamp")) if isinstance(score, dict) else None
        if not bad and isinstance(score, dict):
            bad = (moment is None
                   or (score.get("scoreGiven") is not None
                       and not _is_numeric(score["scoreGiven"]))
                   or (score.get("scoreMaximum") is not None
                       and not _is_numeric(score["scoreMaximum"]))
                   or not str(score["userId"]).isdigit()
                   or not s.is_gradable(course_id, int(str(score["userId"]))))
        if bad or not isinstance(score, dict) or moment is None:
            raise ServiceError(400, "Incorrect score received")
        user_id = str(int(str(score["userId"])))
        existing = s.grades.get(item.id, {}).get(user_id)
        if existing is not None and existing.timemodified and existing.timemodified >= moment:
            raise ServiceError(409, "Refusing score with an earlier timestamp for item "
                                    f"{item.id} and user {user_id}")
        score_max = float(score["scoreMaximum"]) if score.get("scoreMaximum") is not None else 1.0
        given = float(score["scoreGiven"]) if score.get("scoreGiven") is not None else None
        if given is not None and score["gradingProgress"] != "FullyGraded":
            given = None
        final: float | None = None
        if given is not None:
            final = given
            if score_max != item.score_maximum and score_max != 0:
                final = given * item.score_maximum / score_max
        comment = score.get("comment")
        s.grades.setdefault(item.id, {})[user_id] = GradeRecord(
            user_id=user_id, line_item_id=item.id, score_given=given, score_maximum=score_max,
            final_grade=final, comment=str(comment) if comment else None,
            timestamp=str(score["timestamp"]), timemodified=moment,
            activity_progress=str(score["activityProgress"]),
            grading_progress=str(score["gradingProgress"]), raw=dict(score))


class ResultsResource(ServiceBase):
    formats = [RESULT_CONTAINER]
    methods = ["GET"]

    def handle(self, course_id: int, item_id: int) -> Response:
        s = self.standin
        tool = self.check_token(_int_arg("type_id"), [SCOPE_RESULT])
        accept = request.headers.get("Accept", "")
        if accept and accept not in self.formats:
            raise ServiceError(400)
        self.course_or_404(course_id)
        with s.lock:
            item = self.item_or_404(course_id, item_id, tool.type_id)
            wanted = request.args.get("user_id")
            records = sorted(s.grades.get(item.id, {}).values(), key=lambda r: int(r.user_id))
            if wanted is not None:
                records = [r for r in records if r.user_id == wanted]
            limit = _int_arg("limit") or 0
            if limit > 0:
                start = _int_arg("from") or 0
                records = records[start:start + limit]
            endpoint = s.lineitem_url(item).split("?", 1)[0]
            results = []
            for record in records:
                result: dict[str, Any] = {
                    "id": f"{endpoint}/results?type_id={tool.type_id}&user_id={record.user_id}",
                    "userId": record.user_id,
                }
                if record.final_grade:
                    result["resultScore"] = number(record.final_grade)
                    result["resultMaximum"] = number(item.score_maximum)
                    if record.comment:
                        result["comment"] = record.comment
                    result["scoreOf"] = s.lineitem_url(item)
                    result["timestamp"] = datetime.fromtimestamp(
                        record.timemodified, UTC).isoformat()
                results.append(result)
        return respond(200, body=php_json(results), content_type=RESULT_CONTAINER)


class MembershipsResource(ServiceBase):
    formats = [NRPS_CONTAINER, LIS_MEMBERSHIP_CONTAINER]
    methods = ["GET"]

    def handle(self, context_type: str, course_id: int, type_id: int) -> Response:
        s = self.standin
        tool = self.check_token(type_id, [SCOPE_NRPS])
        if request.headers.get("Accept", "") == LIS_MEMBERSHIP_CONTAINER:
            raise ServiceError(406, "The stand-in only serves the NRPS v2 format")
        if context_type != "CourseSection":
            raise ServiceError(400)
        self.course_or_404(course_id)
        with s.lock:
            if not s.tool_used_in_course(type_id, course_id):
                raise ServiceError(404, "Not Found: the tool is not used in this context")
            link_param = request.args.get("rlid", "")
            activity = None
            if link_param:
                activity = s.activities.get(int(link_param)) if link_param.isdigit() else None
                if activity is None or activity.course_id != course_id:
                    raise ServiceError(404, f"Not Found: LTI link {link_param} doesn't exist")
            body, next_link = self._members(course_id, tool, activity)
        headers = {"Link": f"<{next_link}>; rel=\"next\""} if next_link else {}
        return respond(200, body=body, content_type=NRPS_CONTAINER, headers=headers)

    def _members(self, course_id: int, tool: ToolRegistration,
                 activity: Any) -> tuple[str, str]:
        s = self.standin
        course = s.courses[course_id]
        role = request.args.get("role", "")
        if role and not role.startswith(("http://", "https://")):
            role = ROLE_PREFIX + role
        users = [s.users[uid] for (cid, uid) in sorted(s.enrolments, key=lambda k: k[1])
                 if cid == course_id]
        if role == ROLE_PREFIX + "Instructor":
            users = [u for u in users if s.can_manage_activities(u, course_id)]
        elif role == ROLE_PREFIX + "Learner":
            users = [u for u in users if not s.can_manage_activities(u, course_id)]
        limit = _int_arg("limit") or 0
        start = _int_arg("from") or 0
        members: list[dict[str, Any]] = []
        more = False
        builder = LaunchMessageBuilder(s)
        for n, user in enumerate(users, start=1):
            if limit > 0:
                if n <= start:
                    continue
                if len(members) >= limit:
                    more = True
                    break
            member: dict[str, Any] = {
                "status": "Active",
                "roles": ["Instructor" if s.can_manage_activities(user, course_id)
                          else "Learner"],
            }
            if activity is not None:
                message: dict[str, Any] = {
                    "https://purl.imsglobal.org/spec/lti/claim/message_type":
                        "LtiResourceLinkRequest"}
                if s.activity_items(activity.id):
                    message["https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome"] = (
                        builder.basic_outcome(activity, user, tool))
                member["message"] = [message]
            member["user_id"] = str(user.id)
            member["lis_person_sourcedid"] = user.idnumber
            if tool.send_name:
                member["name"] = user.fullname
                member["given_name"] = user.firstname
                member["family_name"] = user.lastname
            if tool.send_email:
                member["email"] = user.email
            member["ext_user_username"] = user.username
            members.append(member)
        endpoint = s.memberships_url(course_id, tool.type_id)
        doc = {"id": endpoint,
               "context": {"id": str(course.id), "label": course.shortname,
                           "title": course.fullname},
               "members": members}
        next_link = ""
        if more:
            next_link = f"{endpoint}?limit={limit}&from={start + limit}"
            if activity is not None:
                next_link += f"&rlid={activity.id}"
        return php_json(doc), next_link


_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/(\d+)/lineitems$"), "lineitems"),
    (re.compile(r"^/(\d+)/lineitems/(\d+)/lineitem$"), "lineitem"),
    (re.compile(r"^/(\d+)/lineitems/(\d+)/lineitem/results$"), "results"),
    (re.compile(r"^/(\d+)/lineitems/(\d+)/lineitem/scores$"), "scores"),
    (re.compile(r"^/([^/]+)/(\d+)/bindings/(\d+)/memberships$"), "memberships"),
]


class ServicesRouter:
    """``mod/lti/services.php``: media-type filtered dispatch to the resources."""

    def __init__(self, standin: MoodleStandIn) -> None:
        self.resources: dict[str, Any] = {
            "lineitems": LineItemsResource(standin),
            "lineitem": LineItemResource(standin),
            "results": ResultsResource(standin),
            "scores": ScoresResource(standin),
            "memberships": MembershipsResource(standin),
        }

    def dispatch(self, subpath: str) -> Response:
        path = "/" + subpath
        method = request.method
        accept = request.headers.get("Accept", "")
        ctype = request.headers.get("Content-Type", "")
        for pattern, name in _ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            resource = self.resources[name]
            if method == "GET" and accept and "*/*" not in accept and (
                    accept not in resource.formats):
                continue
            if method not in ("GET", "DELETE") and ctype not in resource.formats:
                continue
            if method not in resource.methods:
                return respond(405)
            groups = [int(g) if g.isdigit() else g for g in match.groups()]
            handler: Callable[..., Response] = resource.handle
            try:
                return handler(*groups)
            except ServiceError as err:
                return respond(err.status, reason=err.reason)
        return respond(400)


def _kind() -> str:
    return "nrps" if "/bindings/" in request.path else "ags"


def register_services(app: Flask, standin: MoodleStandIn) -> None:
    """Route ``/mod/lti/services.php/<path>`` to the AGS and NRPS resources."""
    router = ServicesRouter(standin)
    view = server_side(standin, _kind)(router.dispatch)
    app.add_url_rule("/mod/lti/services.php/<path:subpath>", "services", view,
                     methods=["GET", "POST", "PUT", "DELETE"])
