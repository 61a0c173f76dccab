"""Case files over HTTP, the same way on every blueprint: the larger request limit of the
pages that take a file, and downloads that a browser never renders as a page."""

from __future__ import annotations

import io

from flask import Response, current_app, request, send_file

# Room for the form's other fields on top of the file itself.
FORM_ALLOWANCE = 512 * 1024


def allow_upload() -> None:
    """Let this request carry one case file (``INCIDENT_MAX_UPLOAD_BYTES``); call it from a
    ``url_value_preprocessor`` (before the CSRF check reads the body) for the upload pages
    only: the launch endpoint and every other page keep ``MAX_CONTENT_LENGTH``."""
    request.max_content_length = (int(current_app.config["INCIDENT_MAX_UPLOAD_BYTES"])
                                  + FORM_ALLOWANCE)


def download(content: bytes, mimetype: str | None, filename: str) -> Response:
    """A file as an attachment that is never sniffed, run or cached."""
    response = send_file(io.BytesIO(content), mimetype=mimetype, as_attachment=True,
                         download_name=filename, conditional=False, etag=False, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
