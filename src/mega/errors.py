"""Errors are values with a code (`family.reason`), a message, details and a hint.

Every error the framework raises on purpose is a `MegaError`. Over HTTP it becomes
`{"ok": false, "error": {"code", "message", "details"}}` with `status`. Outside development a 5xx
body keeps only the code and the request id, and `dev_details` never leave the log.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "InternalError",
    "MegaError",
    "NotFoundError",
    "RateLimitedError",
    "UnauthorizedError",
    "UnprocessableError",
    "ValidationError",
]


class MegaError(Exception):
    """An error with a stable code, an HTTP status and a hint that says what to do."""

    status: int = 500
    default_code: str = "internal"
    headers: list[tuple[bytes, bytes]] | None = None
    """Response headers the error sends along (e.g. Retry-After on a 429)."""
    dev_details: dict[str, Any] | None = None

    def __init__(
        self,
        code: str | None = None,
        message: str = "",
        *,
        details: Any = None,
        hint: str | None = None,
        status: int | None = None,
        cause: BaseException | None = None,
        dev_details: dict[str, Any] | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.message = message or self.code
        self.details = {} if details is None else details
        # For the developer only (names of hosts, services, files): in the body in development,
        # in the log elsewhere (mega.http._public_error decides).
        self.dev_details = dev_details
        self.hint = hint
        if status is not None:
            self.status = status
        super().__init__(self.message)
        if cause is not None:
            self.__cause__ = cause

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text

    def to_dict(self) -> dict[str, Any]:
        """The public body of the error: never internals, never the cause."""
        return {"code": self.code, "message": self.message, "details": self.details}


class BadRequestError(MegaError):
    status = 400
    default_code = "request.bad"


class ValidationError(MegaError):
    status = 400
    default_code = "validation.failed"


class UnprocessableError(MegaError):
    status = 422
    default_code = "validation.unprocessable"


class UnauthorizedError(MegaError):
    status = 401
    default_code = "auth.unauthorized"


class ForbiddenError(MegaError):
    status = 403
    default_code = "auth.forbidden"


class NotFoundError(MegaError):
    status = 404
    default_code = "not_found"


class ConflictError(MegaError):
    status = 409
    default_code = "conflict"


class RateLimitedError(MegaError):
    status = 429
    default_code = "rate.limited"


class InternalError(MegaError):
    status = 500
    default_code = "internal"
