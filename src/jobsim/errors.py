"""One exception root for jobsim, split by what a caller should do about it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any


class JobsimError(Exception):
    """Root of every error jobsim raises on purpose."""


class ConfigurationError(JobsimError):
    """Settings or a spec string that cannot work (unknown provider, missing key, bad URL)."""


class MigrationFailed(JobsimError):
    """A schema migration that would leave the database inconsistent; it was rolled back."""


class ValidationFailed(JobsimError):
    """Input that breaks a documented rule; the message says which rule, never echoes secrets."""


class Conflict(ValidationFailed):
    """Input that clashes with what is stored (an id taken, by this listing type or another):
    valid on its own, refused because of the database's state (HTTP 409)."""


class NotFound(JobsimError):
    """The posting (or task, or worker) asked for does not exist."""


class PermanentError(JobsimError):
    """Retrying will not help: bad credentials, a rejected request, a malformed response."""


class TransientError(JobsimError):
    """Retrying later may help: timeouts, 5xx, connection resets."""


class ModelRetired(TransientError):
    """Another vector model serves now (a model switch): this process must not write lists."""


class RateLimited(TransientError):
    """The provider asked us to slow down; retry_after is in seconds when it said how long."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\bsk-[A-Za-z0-9_\-*]{8,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"),
    re.compile(r"(?i)((?:api[_-]?key|token|password|secret)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,}]+"),
    re.compile(r"(?i)(://[^:/\s]+:)[^@/\s]+(@)"),
]
MAX_ERROR_CHARS = 500


# Every secret this process was configured with (Settings remembers its SecretStr fields), so a
# provider error that quotes any of them, in any shape, is redacted wherever it is printed.
_KNOWN_SECRETS: set[str] = set()
MIN_SECRET_CHARS = 6


def remember_secrets(*values: str | None) -> None:
    _KNOWN_SECRETS.update(v for v in values if v and len(v) >= MIN_SECRET_CHARS)


def sanitize(
    message: str, secrets: Sequence[str | None] = (), max_chars: int = MAX_ERROR_CHARS
) -> str:
    """Make an error message safe to store, log or return: no keys, passwords or tokens.

    Known secret values (those given and every configured one) are replaced first, then
    anything shaped like a credential; the result is cut to max_chars so a provider echoing a
    whole request cannot flood the tables.
    """
    for secret in sorted({*_KNOWN_SECRETS, *(s for s in secrets if s)}, key=len, reverse=True):
        message = message.replace(secret, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 2:
            message = pattern.sub(r"\1[redacted]\2", message)
        elif pattern.groups == 1:
            message = pattern.sub(r"\1[redacted]", message)
        else:
            message = pattern.sub("[redacted]", message)
    if len(message) > max_chars:
        message = message[: max_chars - 3] + "..."
    return message


_FIELD_LOC = re.compile(r"[^A-Za-z0-9_.\[\]]")


def describe_validation_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic errors as [{field, message}], never echoing the rejected input."""
    described = []
    for error in errors:
        field = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        described.append(
            {
                "field": _FIELD_LOC.sub("", field) or "body",
                "message": str(error.get("msg", "invalid value")),
            }
        )
    return described
