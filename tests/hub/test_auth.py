"""hub/auth.py: password hashes, edge token hashes and HS256 access tokens."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from hub import auth

NOW = 1_752_045_302.0


# -- passwords ------------------------------------------------------------------------------
def test_password_hash_verifies_only_the_right_password() -> None:
    stored = auth.hash_password("correct horse")
    assert stored.startswith("scrypt$")
    assert "correct horse" not in stored
    assert auth.verify_password("correct horse", stored)
    assert not auth.verify_password("correct horse ", stored)
    assert not auth.verify_password("", stored)


def test_password_hashes_are_salted() -> None:
    assert auth.hash_password("pw") != auth.hash_password("pw")


@pytest.mark.parametrize("stored", ["", "plain", "md5$00$00", "scrypt$00", "scrypt$zz$00", "scrypt$0$00"])
def test_malformed_stored_hash_never_verifies(stored: str) -> None:
    assert auth.verify_password("pw", stored) is False


# -- edge tokens ----------------------------------------------------------------------------
def test_edge_tokens_are_random_and_kept_as_sha256() -> None:
    token = auth.new_token()
    assert len(token) >= 40
    assert token != auth.new_token()
    stored = auth.hash_token(token)
    assert len(stored) == 64 and token not in stored
    assert auth.token_matches(token, stored)
    assert not auth.token_matches(token + "x", stored)
    assert not auth.token_matches(token, None)


# -- access tokens --------------------------------------------------------------------------
def test_issue_and_verify() -> None:
    tokens = auth.Tokens(b"secret", ttl_s=60)
    claims = tokens.verify(tokens.issue("alice", True, now=NOW), now=NOW + 30)
    assert claims == {"sub": "alice", "adm": True, "iat": int(NOW), "exp": int(NOW) + 60}


def test_expired_token_is_rejected() -> None:
    tokens = auth.Tokens(b"secret", ttl_s=60)
    token = tokens.issue("alice", False, now=NOW)
    assert tokens.verify(token, now=NOW + 60)["sub"] == "alice"
    with pytest.raises(auth.AuthError, match="expired"):
        tokens.verify(token, now=NOW + 61)


def test_token_of_another_secret_is_rejected() -> None:
    token = auth.Tokens(b"other").issue("alice", True, now=NOW)
    with pytest.raises(auth.AuthError, match="signature"):
        auth.Tokens(b"secret").verify(token, now=NOW)


def _b64(doc: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def test_tampered_claims_are_rejected() -> None:
    tokens = auth.Tokens(b"secret")
    header, _, sig = tokens.issue("bob", False, now=NOW).split(".")
    forged = f"{header}.{_b64({'sub': 'bob', 'adm': True, 'iat': int(NOW), 'exp': int(NOW) + 99})}.{sig}"
    with pytest.raises(auth.AuthError, match="signature"):
        tokens.verify(forged, now=NOW)


def test_unsigned_token_is_rejected() -> None:
    tokens = auth.Tokens(b"secret")
    _, body, _ = tokens.issue("bob", True, now=NOW).split(".")
    with pytest.raises(auth.AuthError):
        tokens.verify(f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{body}.", now=NOW)


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "!!!.???.***"])
def test_malformed_token_is_rejected(token: str) -> None:
    with pytest.raises(auth.AuthError):
        auth.Tokens(b"secret").verify(token, now=NOW)


# -- the signing secret ---------------------------------------------------------------------
def test_secret_is_generated_once_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGEHUB_JWT_SECRET", raising=False)
    first = auth.load_secret(tmp_path / "data")
    assert len(first) == 32
    assert auth.load_secret(tmp_path / "data") == first
    assert (tmp_path / "data" / "jwt.secret").stat().st_mode & 0o077 == 0


def test_secret_from_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEHUB_JWT_SECRET", "from-env")
    assert auth.load_secret(tmp_path) == b"from-env"
    assert not (tmp_path / "jwt.secret").exists()
