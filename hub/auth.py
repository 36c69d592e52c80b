"""Passwords, edge tokens and JWT access tokens (HS256), with the standard library only.

Passwords are hashed with scrypt and a random salt. Edge tokens are 32 random bytes shown once;
the hub keeps their SHA-256 (they are high-entropy, so a slow hash adds nothing). Access tokens
are JWTs signed with a secret read from ``EDGEHUB_JWT_SECRET`` or generated once into the data
directory, so tokens survive a hub restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

ACCESS_TOKEN_TTL_S = 12 * 3600  # one shift; the web app asks for a new token at login
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class AuthError(Exception):
    """A credential is missing, malformed, expired or wrong."""


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str | None) -> bool:
    return stored_hash is not None and hmac.compare_digest(hash_token(token), stored_hash)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_secret(data_dir: Path) -> bytes:
    env = os.environ.get("EDGEHUB_JWT_SECRET")
    if env:
        return env.encode()
    path = Path(data_dir) / "jwt.secret"
    if path.exists():
        return path.read_bytes()
    secret = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret)
    return secret


class Tokens:
    """Issues and checks JWT access tokens."""

    def __init__(self, secret: bytes, ttl_s: int = ACCESS_TOKEN_TTL_S) -> None:
        self._secret = secret
        self.ttl_s = ttl_s

    def issue(self, username: str, is_admin: bool, now: float | None = None) -> str:
        iat = int(now if now is not None else time.time())
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        claims = {"sub": username, "adm": is_admin, "iat": iat, "exp": iat + self.ttl_s}
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self._secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(sig)}"

    def verify(self, token: str, now: float | None = None) -> dict[str, Any]:
        try:
            header, body, sig = token.split(".")
        except ValueError:
            raise AuthError("malformed token") from None
        expected = hmac.new(self._secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(_unb64(sig), expected):
                raise AuthError("bad token signature")
            if json.loads(_unb64(header)).get("alg") != "HS256":
                raise AuthError("unsupported token algorithm")
            claims: dict[str, Any] = json.loads(_unb64(body))
        except (ValueError, TypeError) as exc:
            raise AuthError("malformed token") from exc
        if claims.get("exp", 0) < (now if now is not None else time.time()):
            raise AuthError("token expired")
        return claims
