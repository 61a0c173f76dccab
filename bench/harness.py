"""What every benchmark sets up the same way: a free loopback port, a database built by the
real migrations, and the Moodle stand-in with the tool served and registered on it."""

from __future__ import annotations

import socket

import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from lti_tool.demo.platform import MoodleStandIn
from lti_tool.demo.server import serve_in_thread
from lti_tool.demo.wiring import register_both_ways
from lti_tool.extensions import db


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def migrate_from_nothing(app: Flask) -> str:
    """Build the schema with the migrations (a PostgreSQL database is emptied first: point
    AIU_BENCH_DATABASE_URL only at a throwaway one). Returns the dialect's name."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
        upgrade()
        return str(db.engine.dialect.name)


def start_standin() -> MoodleStandIn:
    """A Moodle stand-in served on a free loopback port."""
    port = free_port()
    moodle = MoodleStandIn(f"http://127.0.0.1:{port}")
    serve_in_thread(moodle.app, "127.0.0.1", port)
    return moodle


def serve_registered(app: Flask, port: int, moodle: MoodleStandIn) -> None:
    """Serve the tool on ``port`` and register it and the stand-in with each other."""
    serve_in_thread(app, "127.0.0.1", port)
    with app.app_context():
        register_both_ways(moodle, app.config["BASE_URL"], actor="bench")
        db.session.commit()
