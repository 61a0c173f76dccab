"""The one-time submission key of a form: :func:`new_key` makes it (the ``submission_key``
macro of ``macros/forms.html`` renders it as a hidden field) and :func:`once` on a view
lets only the first request carrying a key act.

The key is claimed by inserting its row before the view runs, in the request's own
transaction: a parallel request with the same key blocks on that row (PostgreSQL) or on the
write lock (SQLite) until the first commits, then finds the key taken and answers with the
first request's redirect or page. If the first request fails (a form error, a refusal) its
transaction rolls back, the claim goes with it and the person can correct and resend.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from flask import Response, g, make_response, redirect, request
from flask_babel import lazy_gettext
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.lti.exceptions import ToolError
from lti_tool.submissions.models import FormSubmission

FIELD = "submission_key"
_KEY = re.compile(r"[A-Za-z0-9_-]{32,64}")
# Pages kept for a repeat are small result pages; anything larger is not kept.
_MAX_BODY = 200_000

F = TypeVar("F", bound=Callable[..., Any])


class SubmissionRefused(ToolError):
    title = lazy_gettext("This form could not be sent")


def new_key() -> str:
    """A fresh key for one rendering of a form."""
    return secrets.token_urlsafe(32)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", errors="replace")).hexdigest()


def once(view: F) -> F:
    """Let the first POST carrying a submission key act; repeats get its answer.

    A POST without a well-formed key is refused (400) before anything is written. Put it
    below the access decorators, so a refused person cannot claim a key."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if request.method != "POST":
            return view(*args, **kwargs)
        key = request.form.get(FIELD, "")
        if not _KEY.fullmatch(key):
            raise SubmissionRefused("submission_key_missing", "The form was sent without "
                                    "the tool's page around it. Reload the page and try "
                                    "again.")
        claim = FormSubmission(key_hash=_hash(key), path_hash=_hash(request.path))
        try:
            db.session.add(claim)
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            return _repeat(claim.key_hash, claim.path_hash)
        response = make_response(view(*args, **kwargs))
        if response.status_code < 400:
            _keep(claim, response)
        return response

    return cast(F, wrapped)


def _keep(claim: FormSubmission, response: Response) -> None:
    if g.pop("submission_unclaimed", False):
        # A confirmation page (lti_tool/submissions/confirmation.py): nothing was done, so
        # nothing is written and the key stays free.
        if sa.inspect(claim).persistent:
            db.session.delete(claim)
            db.session.flush()
        return
    if sa.inspect(claim).transient:
        # The view rolled its transaction back and then succeeded: claim again.
        db.session.add(claim)
    claim.status = response.status_code
    if response.location:
        claim.location = response.location[:2000]
    elif not response.direct_passthrough and not response.is_streamed:
        body = response.get_data(as_text=True)
        claim.body = body if len(body) <= _MAX_BODY else None
    db.session.flush()


def _repeat(key_hash: str, path_hash: str) -> BaseResponse:
    """The answer the first request with this key gave."""
    first = db.session.get(FormSubmission, key_hash)
    if first is None or first.path_hash != path_hash or not (first.location or first.body):
        raise SubmissionRefused("submission_key_used", "This form was already sent. Reload "
                                "the page to see what it did.", status=409)
    if first.location:
        return redirect(first.location, code=303)
    return make_response(first.body or "", first.status)


def purge_older_than(age: timedelta) -> int:
    """Forget keys claimed more than ``age`` ago (a repeat that late is a new visit)."""
    result = db.session.execute(sa.delete(FormSubmission)
                                .where(FormSubmission.created_at < utcnow() - age))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
