"""Reports: the Stage-3 pack for the awarding body, staff analytics, CSV exports."""

from __future__ import annotations


def safe_cell(value: object) -> str:
    """A CSV cell that spreadsheet programs will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
