"""Moodle's ``sesskey`` (its CSRF token for the user's Moodle session) rides in the launch's
``return_url`` and ``deep_link_return_url``. The tool never keeps it in clear: the URLs go
into the session without it, and the deep-linking return, which Moodle refuses without it,
keeps it sealed (encrypted with a key derived from ``SECRET_KEY``) until the response."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken

PARAM = "sesskey"
SEALED = "aiu_sealed_sesskey"
RETURN_URL = "deep_link_return_url"


def split_sesskey(url: str) -> tuple[str, str | None]:
    """``url`` without any ``sesskey`` query parameter, and the (last) value it had."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k.lower() != PARAM]
    if len(kept) == len(pairs):
        return url, None
    values = [v for k, v in pairs if k.lower() == PARAM]
    return urlunsplit(parts._replace(query=urlencode(kept))), values[-1]


def strip_sesskey(url: str | None) -> str | None:
    """``url`` without its ``sesskey`` query parameters (None stays None)."""
    return None if url is None else split_sesskey(url)[0]


def _fernet(secret: str | bytes) -> Fernet:
    raw = secret.encode() if isinstance(secret, str) else secret
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"aiu-sesskey\0" + raw).digest()))


def seal_deep_linking(settings: Mapping[str, Any], secret: str | bytes) -> dict[str, Any]:
    """The deep-linking settings to keep in the session: the return URL without its
    ``sesskey``, which is kept sealed beside it."""
    kept = dict(settings)
    url = kept.get(RETURN_URL)
    if isinstance(url, str):
        kept[RETURN_URL], sesskey = split_sesskey(url)
        if sesskey is not None:
            kept[SEALED] = _fernet(secret).encrypt(sesskey.encode()).decode()
    return kept


def deep_link_return_url(settings: Mapping[str, Any], secret: str | bytes) -> str:
    """The return URL to post the deep-linking response to, with its ``sesskey`` back."""
    url = str(settings.get(RETURN_URL) or "")
    sealed = settings.get(SEALED)
    if not url or not isinstance(sealed, str):
        return url
    try:
        sesskey = _fernet(secret).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return url  # the secret key changed: Moodle will ask the teacher to try again
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(PARAM, sesskey)]
    return urlunsplit(parts._replace(query=urlencode(query)))
