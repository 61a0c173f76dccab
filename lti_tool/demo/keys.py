"""RSA keys, compact JWS (RS256) signing and verification for the Moodle stand-in.

The stand-in builds and checks JWTs by hand instead of through a JWT library so that tests can
forge anything (a lying ``alg`` header, a missing ``kid``, an empty signature) and so that the
verification errors carry the wording of the ``firebase/php-jwt`` library Moodle uses
("Signature verification failed", "Expired token", ``"kid" empty, unable to lookup correct
key`` ...): Moodle passes those messages straight to the tool in token.php answers.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ALG = "RS256"
# Algorithms php-jwt knows but that cannot be used with an RSA key from a JWKS.
_OTHER_KNOWN_ALGS = {"HS256", "HS384", "HS512", "RS384", "RS512", "ES256", "ES384", "ES256K",
                     "PS256", "PS384", "PS512", "EdDSA"}


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    pad = "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text + pad)


def _int_to_b64(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


def _b64_to_int(text: str) -> int:
    return int.from_bytes(b64url_decode(text), "big")


class JwtError(Exception):
    """A JWT failed to decode or verify. ``str(err)`` is php-jwt's message for the failure."""


@dataclass
class RsaKey:
    """An RSA private key with its ``kid``."""

    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str | None = None) -> RsaKey:
        """A fresh 2048-bit key; the kid defaults to 20 hex characters like Moodle's."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid or secrets.token_hex(10), key)

    @classmethod
    def from_any(cls, value: Any, kid: str | None = None) -> RsaKey:
        """Accept an ``RsaKey``, a cryptography private key, a PEM (str/bytes) or a private JWK."""
        if isinstance(value, RsaKey):
            return value
        if isinstance(value, rsa.RSAPrivateKey):
            return cls(kid or secrets.token_hex(10), value)
        if isinstance(value, dict):
            numbers = rsa.RSAPrivateNumbers(
                p=_b64_to_int(value["p"]), q=_b64_to_int(value["q"]),
                d=_b64_to_int(value["d"]), dmp1=_b64_to_int(value["dp"]),
                dmq1=_b64_to_int(value["dq"]), iqmp=_b64_to_int(value["qi"]),
                public_numbers=rsa.RSAPublicNumbers(_b64_to_int(value["e"]),
                                                    _b64_to_int(value["n"])),
            )
            return cls(kid or str(value.get("kid") or secrets.token_hex(10)),
                       numbers.private_key())
        if isinstance(value, str):
            value = value.encode("ascii")
        if isinstance(value, bytes):
            loaded = serialization.load_pem_private_key(value, password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise TypeError("only RSA private keys are supported")
            return cls(kid or secrets.token_hex(10), loaded)
        raise TypeError(f"cannot use {type(value).__name__} as an RSA key")

    def public_jwk(self) -> dict[str, str]:
        """The public half as Moodle's certs.php prints it."""
        numbers = self.private_key.public_key().public_numbers()
        return {"kty": "RSA", "alg": ALG, "kid": self.kid,
                "e": _int_to_b64(numbers.e), "n": _int_to_b64(numbers.n), "use": "sig"}

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def encode_jws(header: dict[str, Any], claims: dict[str, Any], key: RsaKey | None) -> str:
    """Serialise ``header`` and ``claims`` as a compact JWS signed RS256 with ``key``.

    The header is used verbatim (its ``alg`` may lie); ``alg: none`` or ``key=None`` gives an
    empty signature.
    """
    head = b64url_encode(json.dumps(header, separators=(",", ":")).encode("utf-8"))
    body = b64url_encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    signing_input = f"{head}.{body}".encode("ascii")
    signature = b"" if key is None or header.get("alg") == "none" else key.sign(signing_input)
    return f"{head}.{body}.{b64url_encode(signature)}"


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS without any check (raises ``JwtError`` if garbled)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("Wrong number of segments")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except ValueError as exc:
        raise JwtError("Invalid header encoding") from exc
    try:
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError as exc:
        raise JwtError("Invalid claims encoding") from exc
    if not isinstance(header, dict):
        raise JwtError("Invalid header encoding")
    if not isinstance(claims, dict):
        raise JwtError("Invalid claims encoding")
    return header, claims


def public_keys_from_jwks(jwks: Any) -> dict[str, rsa.RSAPublicKey]:
    """RSA public keys of a JWKS by kid (a key without kid is filed under its index)."""
    keys: dict[str, rsa.RSAPublicKey] = {}
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise JwtError("Invalid keyset: no keys")
    for index, jwk in enumerate(jwks["keys"]):
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
            continue
        try:
            public = rsa.RSAPublicNumbers(_b64_to_int(jwk["e"]), _b64_to_int(jwk["n"]))
        except (KeyError, TypeError, ValueError):
            continue
        keys[str(jwk.get("kid", index))] = public.public_key()
    return keys


def _php_iso8601(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def decode_jws(token: str, keys: dict[str, rsa.RSAPublicKey], *, leeway: int = 0,
               now: float | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS against ``keys`` the way php-jwt 6 does, in its order.

    Checks: three segments, decodable header/claims, ``alg`` RS256, a ``kid`` present and known,
    the signature, then ``nbf``/``iat`` not in the future and ``exp`` not passed. Returns
    (header, claims); raises ``JwtError`` with php-jwt's message.
    """
    header, claims = unverified_parts(token)
    alg = header.get("alg")
    if not alg:
        raise JwtError("Empty algorithm")
    if alg != ALG:
        if alg in _OTHER_KNOWN_ALGS:
            raise JwtError("Incorrect key for this algorithm")
        raise JwtError("Algorithm not supported")
    kid = header.get("kid")
    if kid is None or kid == "":
        raise JwtError('"kid" empty, unable to lookup correct key')
    public = keys.get(str(kid))
    if public is None:
        raise JwtError('"kid" invalid, unable to lookup correct key')
    head, body, sig = token.split(".")
    try:
        public.verify(b64url_decode(sig), f"{head}.{body}".encode("ascii"),
                      padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError) as exc:
        raise JwtError("Signature verification failed") from exc
    moment = time.time() if now is None else now
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if isinstance(value, int | float) and value > moment + leeway:
            raise JwtError(f"Cannot handle token prior to {_php_iso8601(value)}")
    exp = claims.get("exp")
    if isinstance(exp, int | float) and moment - leeway >= exp:
        raise JwtError("Expired token")
    return header, claims


class PlatformKeyRing:
    """The stand-in's signing keys: one current key plus recently retired ones.

    ``rotate()`` makes a new current key and keeps the old one published in certs.php (up to
    ``keep_retired`` of them) so tokens signed just before a rotation still verify.
    """

    def __init__(self, key: RsaKey | None = None, *, keep_retired: int = 2) -> None:
        self._lock = threading.Lock()
        self.current = key or RsaKey.generate()
        self.retired: list[RsaKey] = []
        self.keep_retired = keep_retired

    def rotate(self, new_key: RsaKey | None = None) -> RsaKey:
        with self._lock:
            self.retired.insert(0, self.current)
            del self.retired[self.keep_retired:]
            self.current = new_key or RsaKey.generate()
            return self.current

    def drop_retired(self) -> None:
        with self._lock:
            self.retired.clear()

    def all_keys(self) -> list[RsaKey]:
        with self._lock:
            return [self.current, *self.retired]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.public_jwk() for k in self.all_keys()]}

    def public_keys(self) -> dict[str, rsa.RSAPublicKey]:
        return {k.kid: k.private_key.public_key() for k in self.all_keys()}


class ToolKeysetCache:
    """Moodle's per-client cache of a tool's JWKS (``lti_verify_with_keyset``).

    A JWT is first checked against the cached keyset; on *any* failure (no cache yet, unknown
    kid, bad signature, even expiry) the keyset is fetched again from the tool's ``jwks_uri``
    and the check repeated once; the second failure's message is the one reported. A good
    second check replaces the cache.
    """

    def __init__(self, timeout: float = 5.0) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}
        self.fetches: dict[str, int] = {}
        self.timeout = timeout

    def forget(self, client_id: str | None = None) -> None:
        with self._lock:
            if client_id is None:
                self._cache.clear()
            else:
                self._cache.pop(client_id, None)

    def _fetch(self, client_id: str, jwks_uri: str) -> Any:
        with self._lock:
            self.fetches[client_id] = self.fetches.get(client_id, 0) + 1
        try:
            response = requests.get(jwks_uri, timeout=self.timeout)
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            raise JwtError(f"Failed to fetch the tool's keyset from {jwks_uri}") from exc

    def verify(self, client_id: str, jwks_uri: str, token: str, *, leeway: int = 0
               ) -> tuple[dict[str, Any], dict[str, Any]]:
        with self._lock:
            cached = self._cache.get(client_id)
        if cached is not None:
            try:
                return decode_jws(token, public_keys_from_jwks(cached), leeway=leeway)
            except JwtError:
                pass
        keyset = self._fetch(client_id, jwks_uri)
        result = decode_jws(token, public_keys_from_jwks(keyset), leeway=leeway)
        with self._lock:
            self._cache[client_id] = keyset
        return result
