"""Reports: the Stage-3 pack for the awarding body, staff analytics, CSV exports."""

from __future__ import annotations

import io
import re

from flask import Response, send_file


def safe_cell(value: object) -> str:
    """A CSV cell that spreadsheet programs will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def filename_part(value: object, limit: int = 60) -> str:
    """``value`` (a Moodle user id, a title...) as a piece of a file name: letters, digits,
    ``.``, ``_`` and ``-`` only, so nothing a platform sends can shape the name."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", str(value)).strip(".-")
    return text[:limit] or "unnamed"


def attachment(body: bytes | str, mimetype: str, filename: str) -> Response:
    """A download (never shown inline, never cached: these files hold personal data). The
    header is Werkzeug's (RFC 6266: quoted, with ``filename*`` for non-ASCII names)."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    response = send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True,
                         download_name=filename, conditional=False, etag=False, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response
