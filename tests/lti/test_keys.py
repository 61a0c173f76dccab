from __future__ import annotations

import json
import stat
from pathlib import Path

import jwt
from jwt.algorithms import RSAAlgorithm

from lti_tool.lti.keys import KeyStore


def test_generate_makes_one_private_key_with_mode_0600(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    key, made = store.generate()
    assert made
    pem = tmp_path / f"{key.kid}.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    again, made_again = store.generate()
    assert not made_again and again.kid == key.kid


def test_jwks_has_public_fields_only(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.generate()
    (jwk,) = store.jwks()["keys"]
    assert jwk["alg"] == "RS256" and jwk["use"] == "sig" and jwk["kty"] == "RSA"
    assert jwk["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)


def test_rotation_publishes_current_and_retiring_then_drops_the_oldest(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    first, _ = store.generate()
    second, removed = store.rotate()
    assert removed == []
    kids = [k["kid"] for k in store.jwks()["keys"]]
    assert kids == [second.kid, first.kid]
    third, removed = store.rotate()
    assert removed == [first.kid]
    assert [k["kid"] for k in store.jwks()["keys"]] == [third.kid, second.kid]
    assert not (tmp_path / f"{first.kid}.pem").exists()


def test_signed_tokens_carry_kid_and_verify_with_the_published_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.generate()
    token = store.sign({"iss": "tool", "aud": "moodle"})
    header = jwt.get_unverified_header(token)
    jwk = next(k for k in store.jwks()["keys"] if k["kid"] == header["kid"])
    public = RSAAlgorithm.from_jwk(json.dumps(jwk))
    claims = jwt.decode(token, public, algorithms=["RS256"], audience="moodle")  # type: ignore[arg-type]
    assert claims["iss"] == "tool"
