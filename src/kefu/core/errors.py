"""Domain errors. The edges map them to one JSON shape and to readable CLI messages."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a user can cause; never a bug."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details: dict[str, Any] = details


class Invalid(DomainError):
    code = "invalid"
    status = 422


class NotFound(DomainError):
    code = "not_found"
    status = 404


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401


class Conflict(DomainError):
    code = "conflict"
    status = 409


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
