"""The instance folder (SQLite database, secret key) is private to the account running the
tool: the folder is created 0700 and the SQLite file 0600 before SQLite opens it (SQLite gives
its -wal and -shm files the database file's mode)."""

from __future__ import annotations

import os

from flask import Flask
from sqlalchemy.engine import make_url

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: str) -> None:
    os.makedirs(path, mode=PRIVATE_DIR, exist_ok=True)


def private_file(path: str) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist (an existing file is left
    as it is)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return
    os.close(fd)


def sqlite_path(app: Flask) -> str | None:
    """The SQLite database file of ``app`` (relative paths are in the instance folder, as
    Flask-SQLAlchemy resolves them), or None for another database or an in-memory one."""
    url = make_url(str(app.config["SQLALCHEMY_DATABASE_URI"]))
    if not url.drivername.startswith("sqlite"):
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return database if os.path.isabs(database) else os.path.join(app.instance_path, database)


def prepare(app: Flask) -> None:
    private_dir(app.instance_path)
    path = sqlite_path(app)
    if path is not None:
        private_dir(os.path.dirname(path))
        private_file(path)
