"""The tool's front door, for people who open it outside Moodle, and a health check."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from lti_tool.extensions import db

bp = Blueprint("public", __name__)


@bp.get("/")
def home() -> str:
    base = current_app.config["BASE_URL"]
    return render_template("public/home.html", base=base)


@bp.get("/healthz")
def health() -> ResponseReturnValue:
    db.session.execute(sa.text("SELECT 1"))
    return jsonify({"status": "ok"})
