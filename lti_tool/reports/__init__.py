"""Reports: the Stage-3 pack for the awarding body, staff analytics, CSV exports."""

from __future__ import annotations

from flask import Response


def safe_cell(value: object) -> str:
    """A CSV cell that spreadsheet programs will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def attachment(body: bytes | str, mimetype: str, filename: str) -> Response:
    """A download (never shown inline, never cached: these files hold personal data)."""
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
