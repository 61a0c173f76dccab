"""The tool's signing keys: generated, rotated and published as a JWKS.

Private keys live as PEM files (mode 0600) in the keys folder beside a ``keys.json`` manifest
naming the current key and the retiring one. The JWKS serves both, so a platform that cached
the old key keeps verifying tokens signed just before a rotation, and a platform that fetched
the new JWKS verifies tokens signed after it.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from lti_tool.dbtypes import utcnow

MANIFEST = "keys.json"
ALG = "RS256"


class KeyStoreError(RuntimeError):
    """The keys folder is missing, unreadable or holds no current key."""


@dataclass(frozen=True)
class ToolKey:
    kid: str
    status: str  # "current" or "retiring"
    created_at: str
    key: RSAKey
    # A new key is published before it signs: until then the retiring one still signs.
    signs_from: str = ""
    # When it stopped signing (a retiring key): it stays published at least the overlap.
    retired_at: str = ""

    @property
    def signing(self) -> bool:
        return self.status == "current" and (not self.signs_from
                                             or self.signs_from <= _iso(utcnow()))

    def public_jwk(self) -> dict[str, Any]:
        jwk = dict(self.key.as_dict(private=False))
        jwk.update({"kid": self.kid, "alg": ALG, "use": "sig"})
        return jwk


_cache_lock = threading.Lock()
_cache: dict[str, tuple[int, list[ToolKey]]] = {}


class KeyStore:
    """Keys in one folder. Reads are cached per process until the manifest changes."""

    def __init__(self, keys_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(keys_dir)

    @property
    def manifest_path(self) -> Path:
        return self.dir / MANIFEST

    def _read_manifest(self) -> list[dict[str, str]]:
        try:
            data = json.loads(self.manifest_path.read_text("utf-8"))
        except FileNotFoundError:
            return []
        return list(data.get("keys", []))

    def _write_manifest(self, entries: list[dict[str, str]]) -> None:
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"keys": entries}, indent=2), "utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.manifest_path)

    def keys(self) -> list[ToolKey]:
        """Current key first, then the retiring one (if any)."""
        try:
            mtime = self.manifest_path.stat().st_mtime_ns
        except FileNotFoundError:
            return []
        cache_key = str(self.dir.resolve())
        with _cache_lock:
            hit = _cache.get(cache_key)
            if hit and hit[0] == mtime:
                return hit[1]
        loaded = []
        for entry in self._read_manifest():
            pem = (self.dir / f"{entry['kid']}.pem").read_bytes()
            key = RSAKey.import_key(pem)
            loaded.append(ToolKey(entry["kid"], entry["status"], entry["created_at"], key,
                                  entry.get("signs_from", ""), entry.get("retired_at", "")))
        loaded.sort(key=lambda k: k.status != "current")
        with _cache_lock:
            _cache[cache_key] = (mtime, loaded)
        return loaded

    def current(self) -> ToolKey:
        """The key that signs now: the current one, or while a new current key is only
        published (its ``signs_from`` not reached), the retiring one."""
        keys = self.keys()
        if not keys or keys[0].status != "current":
            raise KeyStoreError(
                f"No signing key in {self.dir}. Run 'flask --app lti_tool keys generate'."
            )
        if not keys[0].signing and len(keys) > 1:
            return keys[1]
        return keys[0]

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [k.public_jwk() for k in self.keys()]}

    def _new_key(self) -> tuple[str, str]:
        self.dir.mkdir(parents=True, exist_ok=True)
        key = RSAKey.generate_key(2048, private=True)
        kid = key.thumbprint()
        path = self.dir / f"{kid}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.as_pem(private=True))
        return kid, _iso(utcnow())

    def generate(self) -> tuple[ToolKey, bool]:
        """Make the first key if there is none. Returns (current key, whether it was made)."""
        entries = self._read_manifest()
        if any(e["status"] == "current" for e in entries):
            return self.current(), False
        kid, created = self._new_key()
        self._write_manifest([{"kid": kid, "status": "current", "created_at": created}])
        return self.current(), True

    def rotate(self, *, publish_ahead: timedelta = timedelta(0),
               overlap: timedelta | None = None) -> tuple[ToolKey, list[str]]:
        """Make a new current key; the old current one retires (still published);
        an older retiring key is removed. With ``publish_ahead`` the new key is in the JWKS
        that long before it signs (the old one signs meanwhile). With ``overlap`` a retiring
        key is only removed once it has stopped signing that long ago; otherwise
        :class:`KeyStoreError` says when to rotate again. Returns (new key, removed kids)."""
        entries = self._read_manifest()
        now = utcnow()
        if overlap is not None:
            current = [e for e in entries if e["status"] == "current"]
            if current and current[0].get("signs_from", "") > _iso(now):
                raise KeyStoreError("The new key is not signing yet: rotate again after "
                                    f"{_when(current[0]['signs_from'], overlap)} UTC.")
            for entry in entries:
                stopped = entry.get("retired_at") or entry.get("created_at", "")
                if entry["status"] == "retiring" and stopped > _iso(now - overlap):
                    raise KeyStoreError(
                        "The previous key stopped signing less than "
                        f"{_duration(overlap)} ago and Moodle may still hold tokens it "
                        f"signed: rotate again after {_when(stopped, overlap)} UTC.")
        kid, created = self._new_key()
        signs_from = _iso(now + publish_ahead)
        removed = [e["kid"] for e in entries if e["status"] == "retiring"]
        kept = [dict(e, status="retiring", retired_at=signs_from)
                for e in entries if e["status"] == "current"]
        new = {"kid": kid, "status": "current", "created_at": created}
        if publish_ahead:
            new["signs_from"] = signs_from
        self._write_manifest([new, *kept])
        for old in removed:
            (self.dir / f"{old}.pem").unlink(missing_ok=True)
        return self.keys()[0], removed

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign claims with the current key; the header always carries ``kid``."""
        key = self.current()
        header = {"alg": ALG, "typ": "JWT", "kid": key.kid}
        return jwt.encode(header, claims, key.key, algorithms=[ALG])


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(stamp: str, after: timedelta) -> str:
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + after
    return moment.strftime("%d %B %Y %H:%M")


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} hour{'s' if minutes // 60 != 1 else ''}" if minutes % 60 == 0 \
        else f"{minutes} minutes"
