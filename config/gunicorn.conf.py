"""gunicorn settings for the tool (an example: adapt ``bind`` and ``workers``).

    gunicorn -c config/gunicorn.conf.py 'lti_tool:create_app()'

The access log goes through :func:`lti_tool.log_redaction.redact`: answer-link and
registration tokens in paths, tokens and ``sesskey`` in query strings and Referers, and
email addresses never reach it.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from lti_tool.log_redaction import redact

bind = "127.0.0.1:8000"
workers = 2
accesslog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'


class RedactingLogger(Logger):
    """gunicorn's logger with every access-log field redacted (paths, query, Referer...)."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value
                for key, value in atoms.items()}


logger_class = RedactingLogger
