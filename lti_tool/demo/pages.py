"""The stand-in's browser pages: a small Moodle look-alike for the local demo.

Who is "logged in" is the ``as=<username>`` query parameter (no passwords). Pages:

* ``/``: courses, their activities and "view as" links; ``/course/view.php?id=&as=``.
* ``/mod/lti/view.php?id=<cmid>&as=``: the activity with the tool in an ``<iframe>`` whose
  document (``/mod/lti/launch.php``) auto-POSTs the login initiation to the tool.
* ``/course/modedit.php?add=lti&course=&as=``: "Add an activity": "Select content" runs a deep
  linking launch in an iframe (``/mod/lti/contentitem.php``); the tool's answer to
  contentitem_return.php adds the activities and returns to the course.
* ``/grade/report/grader/index.php?id=&as=``: the grader report; each activity grade cell has
  "Grade analysis" (a submission review launch for that learner, ``/mod/lti/grade.php``) and
  each activity column "View results" (Moodle 5.1's review launch without ``for_user``).
* ``/grade/report/user/index.php?id=&as=``: a learner's own grades and feedback.
* ``/admin/tools.php?as=admin``: Manage tools: "Tool URL" + "Add LTI Advantage" opens the
  tool's registration page in an iframe (``start_registration``), closes it on
  ``postMessage({subject: 'org.imsglobal.lti.close'})`` and lists the tool as Pending with an
  "Activate" button.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from lti_tool.demo.endpoints import auto_post_form, error_page
from lti_tool.demo.messages import DEEP_LINKING, RESOURCE_LINK, SUBMISSION_REVIEW
from lti_tool.demo.model import ACTIVE, Activity, Course, User

if TYPE_CHECKING:
    from lti_tool.demo.platform import MoodleStandIn

def link(endpoint: str, **params: Any) -> str:
    """``url_for`` with arbitrary query parameters (such as ``as``)."""
    return url_for(endpoint, **params)


ROLE_NAMES = {"student": "Student", "editingteacher": "Teacher",
              "teacher": "Non-editing teacher"}


class DemoPages:
    """Views of the demo pages (see the module docstring)."""

    def __init__(self, standin: MoodleStandIn) -> None:
        self.standin = standin

    # -- helpers ------------------------------------------------------------------------------
    def current_user(self) -> User | None:
        name = request.values.get("as", "")
        if not name:
            return None
        try:
            return self.standin.user(name)
        except KeyError:
            return None

    def render(self, template: str, **context: Any) -> str:
        s = self.standin
        return render_template(f"demo/{template}", standin=s, me=self.current_user(),
                               users=sorted(s.users.values(), key=lambda u: u.id),
                               role_names=ROLE_NAMES, **context)

    def activity_by_cmid(self, cmid: str) -> Activity | None:
        for activity in self.standin.activities.values():
            if str(activity.cmid) == cmid:
                return activity
        return None

    def need_user(self) -> User | WerkzeugResponse:
        user = self.current_user()
        if user is None:
            return redirect(url_for("demo_home"))
        return user

    def user_and_course(self) -> tuple[User, Course] | Response | WerkzeugResponse:
        """The signed-in user and the course named by ``?id=``, or the page to show instead
        (the home page when nobody is signed in, a 403 when the course is not theirs)."""
        user = self.need_user()
        if not isinstance(user, User):
            return user
        course_id = request.args.get("id", "")
        course = self.standin.courses.get(int(course_id)) if course_id.isdigit() else None
        if course is None or not self.standin.can_view_course(user, course.id):
            return error_page("You cannot view this course.", 403)
        return user, course

    # -- pages --------------------------------------------------------------------------------
    def home(self) -> str:
        s = self.standin
        with s.lock:
            courses = []
            for course in sorted(s.courses.values(), key=lambda c: c.id):
                members = [(s.users[uid], role) for (cid, uid), role
                           in sorted(s.enrolments.items(), key=lambda kv: kv[0][1])
                           if cid == course.id]
                activities = sorted((a for a in s.activities.values()
                                     if a.course_id == course.id), key=lambda a: a.id)
                courses.append({"course": course, "members": members,
                                "activities": activities})
            return self.render("home.html", courses=courses,
                               tools=sorted(s.tools.values(), key=lambda t: t.type_id))

    def course(self) -> str | WerkzeugResponse:
        found = self.user_and_course()
        if not isinstance(found, tuple):
            return found
        user, course = found
        s = self.standin
        with s.lock:
            activities = sorted((a for a in s.activities.values() if a.course_id == course.id),
                                key=lambda a: a.id)
            return self.render("course.html", course=course, activities=activities,
                               can_manage=s.can_manage_activities(user, course.id),
                               notice=request.args.get("notice", ""),
                               tools={t.type_id: t for t in s.tools.values()})

    def view(self) -> str | Response | WerkzeugResponse:
        user = self.need_user()
        if not isinstance(user, User):
            return user
        activity = self.activity_by_cmid(request.args.get("id", ""))
        if activity is None and request.args.get("l", "").isdigit():
            # As Moodle's view.php: ``l`` is the LTI instance id (the resource link id).
            activity = self.standin.activities.get(int(request.args["l"]))
        if activity is None:
            return error_page("Invalid course module ID", 404)
        s = self.standin
        course = s.courses[activity.course_id]
        launch = link("demo_launch", id=activity.cmid, **{"as": user.username})
        return self.render("activity.html", activity=activity, course=course,
                           launch_url=launch, heading=activity.title, review_of=None)

    def grade(self) -> str | Response | WerkzeugResponse:
        """Grade analysis: a submission review launch in an iframe."""
        user = self.need_user()
        if not isinstance(user, User):
            return user
        activity = self.activity_by_cmid(request.args.get("id", ""))
        if activity is None:
            return error_page("Invalid course module ID", 404)
        s = self.standin
        learner_id = request.args.get("userid", "")
        learner = s.users.get(int(learner_id)) if learner_id.isdigit() else None
        params: dict[str, Any] = {"id": activity.cmid, "as": user.username,
                                  "type": SUBMISSION_REVIEW}
        if learner is not None:
            params["userid"] = learner.id
        return self.render("activity.html", activity=activity,
                           course=s.courses[activity.course_id],
                           launch_url=url_for("demo_launch", **params),
                           heading=f"Grade analysis: {activity.title}", review_of=learner)

    def launch(self) -> Response:
        """launch.php: the iframe document that auto-POSTs the login initiation."""
        user = self.current_user()
        if user is None:
            return error_page("You are not logged in.", 403)
        activity = self.activity_by_cmid(request.args.get("id", ""))
        if activity is None:
            return error_page("Invalid course module ID", 404)
        message_type = request.args.get("type", RESOURCE_LINK)
        for_user = request.args.get("userid") or None
        from lti_tool.demo.platform import LaunchRefused

        try:
            url, fields = self.standin.login_initiation(
                user.username, activity.id, message_type=message_type,
                for_user=int(for_user) if for_user and for_user.isdigit() else None)
        except (LaunchRefused, KeyError, ValueError) as err:
            return error_page(str(err).strip("'\""), 400)
        return Response(auto_post_form(url, fields, "ltiInitiateLoginForm"),
                        content_type="text/html; charset=utf-8")

    def contentitem(self) -> Response:
        """contentitem.php: the iframe document starting a deep linking launch."""
        user = self.current_user()
        if user is None:
            return error_page("You are not logged in.", 403)
        s = self.standin
        from lti_tool.demo.platform import LaunchRefused

        try:
            tool = s.tools[int(request.args.get("id", "0"))]
            url, fields = s.login_initiation(
                user.username, message_type=DEEP_LINKING, client_id=tool.client_id,
                course_id=int(request.args.get("course", "2")))
        except (LaunchRefused, KeyError, ValueError) as err:
            return error_page(str(err).strip("'\""), 400)
        return Response(auto_post_form(url, fields, "ltiInitiateLoginForm"),
                        content_type="text/html; charset=utf-8")

    def modedit(self) -> str | Response | WerkzeugResponse:
        user = self.need_user()
        if not isinstance(user, User):
            return user
        s = self.standin
        course = s.courses.get(int(request.values.get("course", "0") or 0))
        if course is None or not s.can_manage_activities(user, course.id):
            return error_page("Sorry, but you do not currently have permissions to do that "
                              "(Add new external tool activities).", 403)
        tools = [t for t in sorted(s.tools.values(), key=lambda t: t.type_id) if t.active]
        if request.method == "POST":
            tool = s.tools.get(int(request.form.get("typeid", "0") or 0))
            title = request.form.get("name", "").strip()
            if tool is None or not title:
                return self.render("modedit.html", course=course, tools=tools,
                                   error="Choose a tool and give the activity a name.")
            s.add_activity(course.id, title=title, client_id=tool.client_id,
                           description=request.form.get("intro", ""))
            return redirect(link("demo_course", id=course.id, **{"as": user.username}))
        selected = request.args.get("typeid", "")
        return self.render("modedit.html", course=course, tools=tools, error="",
                           select_typeid=int(selected) if selected.isdigit() else None)

    def grader(self) -> str | Response | WerkzeugResponse:
        found = self.user_and_course()
        if not isinstance(found, tuple):
            return found
        user, course = found
        s = self.standin
        role = s.enrolment_role(course.id, user.id)
        if not (user.site_admin or role in ("editingteacher", "teacher")):
            return redirect(link("demo_user_report", id=course.id, **{"as": user.username}))
        with s.lock:
            items = sorted((i for i in s.line_items.values() if i.course_id == course.id),
                           key=lambda i: i.id)
            learners = [s.users[uid] for (cid, uid), r in sorted(s.enrolments.items())
                        if cid == course.id and r == "student"]
            cmids = {a.id: a.cmid for a in s.activities.values()}
            return self.render("grader.html", course=course, items=items, learners=learners,
                               grades=s.grades, cmids=cmids)

    def user_report(self) -> str | Response | WerkzeugResponse:
        found = self.user_and_course()
        if not isinstance(found, tuple):
            return found
        user, course = found
        s = self.standin
        with s.lock:
            items = sorted((i for i in s.line_items.values() if i.course_id == course.id),
                           key=lambda i: i.id)
            rows = [(item, s.grades.get(item.id, {}).get(str(user.id))) for item in items]
            return self.render("user_report.html", course=course, rows=rows)

    def tools(self) -> str | Response | WerkzeugResponse:
        user = self.need_user()
        if not isinstance(user, User):
            return user
        if not user.site_admin:
            return error_page("Access denied: only site administrators manage tools.", 403)
        s = self.standin
        frame_url = ""
        choice: list[Any] = []
        tool_url = ""
        if request.method == "POST":
            action = request.form.get("action", "")
            if action == "activate":
                s.activate(request.form.get("client_id", ""))
                return redirect(link("demo_tools", **{"as": user.username}))
            if action in ("register", "new", "update"):
                tool_url = request.form.get("url", "").strip()
                existing = s.tools_on_domain(tool_url) if tool_url else []
                if action == "register" and existing:
                    choice = existing
                elif tool_url:
                    update = request.form.get("client_id") if action == "update" else None
                    frame_url = s.start_registration(tool_url, update_client_id=update)
        return self.render("tools.html", tools=sorted(s.tools.values(), key=lambda t: t.type_id),
                           frame_url=frame_url, choice=choice, tool_url=tool_url,
                           active=ACTIVE)


def register_demo_pages(app: Flask, standin: MoodleStandIn) -> None:
    """Route the demo pages."""
    pages = DemoPages(standin)
    app.add_url_rule("/", "demo_home", pages.home)
    app.add_url_rule("/course/view.php", "demo_course", pages.course)
    app.add_url_rule("/mod/lti/view.php", "demo_view", pages.view)
    app.add_url_rule("/mod/lti/grade.php", "demo_grade", pages.grade)
    app.add_url_rule("/mod/lti/launch.php", "demo_launch", pages.launch)
    app.add_url_rule("/mod/lti/contentitem.php", "demo_contentitem", pages.contentitem)
    app.add_url_rule("/course/modedit.php", "demo_modedit", pages.modedit,
                     methods=["GET", "POST"])
    app.add_url_rule("/grade/report/grader/index.php", "demo_grader", pages.grader)
    app.add_url_rule("/grade/report/user/index.php", "demo_user_report", pages.user_report)
    app.add_url_rule("/admin/tools.php", "demo_tools", pages.tools, methods=["GET", "POST"])
