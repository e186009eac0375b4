"""Passwords (argon2id), opaque tokens stored as hashes, HMAC identity checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A real hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def burn_password_check(password: str) -> None:
    verify_password(_DUMMY_HASH, password)


def new_token(prefix: str) -> str:
    """An opaque bearer token such as ``kefu_pat_…``; only its hash is stored."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def identity_hmac(secret: str, external_id: str) -> str:
    """HMAC-SHA256 hex of a host site's user id with the inbox secret."""
    return hmac.new(secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()


def check_identity_hmac(secret: str, external_id: str, given: str) -> bool:
    return hmac.compare_digest(identity_hmac(secret, external_id), given.strip().lower())
