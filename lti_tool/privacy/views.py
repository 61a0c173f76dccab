"""The privacy notice (anyone) and a person's own data export (from any launch: learner,
staff, any course). An export only ever covers the launch's own person."""

from __future__ import annotations

from flask import Blueprint, render_template, send_file
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from lti_tool.people.access import current_launch, launch_or_end
from lti_tool.privacy import export
from lti_tool.privacy.notice import notice

bp = Blueprint("privacy", __name__, url_prefix="/privacy")


class ExportForm(FlaskForm):
    pass


@bp.get("/")
def notice_page() -> str:
    launch = current_launch()
    return render_template("privacy/notice.html", notice=notice(),
                           person=launch.person if launch else None,
                           form=ExportForm(formdata=None) if launch else None)


@bp.post("/my-data")
def my_data() -> ResponseReturnValue:
    launch = launch_or_end()
    form = ExportForm()
    if not form.validate_on_submit():
        return render_template("privacy/notice.html", notice=notice(), person=launch.person,
                               form=form, export_refused=True), 400
    person = launch.person
    content, _ = export.build_zip(person, requested_by="learner",
                                  actor=f"person:{person.id}")
    return export_response(content)


def export_response(content: bytes) -> ResponseReturnValue:
    import io

    from lti_tool.dbtypes import utcnow

    return send_file(io.BytesIO(content), mimetype="application/zip", as_attachment=True,
                     download_name=f"aiu-my-data-{utcnow():%Y-%m-%d}.zip")
