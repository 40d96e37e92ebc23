"""One exception hierarchy. Only the entry point (`cli.main`) turns these into output and exits.

    SentryReleaseError           operational failure (API, git, IO)           exit_code 1
    ├── UsageError               something the user gave is invalid            exit_code 2
    │   ├── ConfigError          a configuration value is missing or malformed
    │   └── InvalidName          a release or environment name breaks Sentry's rules
    ├── GitError                 git could not answer
    ├── NameCollision            the release name already belongs to another commit
    ├── WriteBackError           writing the release name into a file failed
    └── ApiError                 Sentry answered with an error or was not reached
        │                        fields: status, retryable, timed_out
        ├── AuthError            401
        ├── ScopeError           403
        ├── NotFoundError        404
        ├── ValidationError      400
        └── ConnectionFailed     no answer: refused, TLS, timeout, time budget spent

`exit_code` is what the class means; code below the entry point raises and never exits.
"""

from __future__ import annotations

from typing import Optional

EXIT_FAILURE = 1
EXIT_USAGE = 2


class SentryReleaseError(Exception):
    """Base error: an operational failure (API, git, IO). Exit code 1."""

    exit_code = EXIT_FAILURE


class UsageError(SentryReleaseError):
    """The user gave something invalid (flag, config value, release name). Exit code 2."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration value is missing or malformed."""


class InvalidName(UsageError):
    """A release or environment name breaks Sentry's rules."""


class GitError(SentryReleaseError):
    """Git could not answer (not a repository, missing commit, shallow history)."""


class NameCollision(SentryReleaseError):
    """The release name already belongs to another commit."""


class WriteBackError(SentryReleaseError):
    """Writing the release name into a file failed; the old file is left intact."""


class ApiError(SentryReleaseError):
    """Sentry answered with an error, or could not be reached.

    `status`: the HTTP status, None without an answer. `retryable`: whether the same request may
    succeed later (None: unknown). `timed_out`: no answer came within the read timeout, so the
    server may still be working on the request.
    """

    def __init__(self, message: str, status: Optional[int] = None, *, retryable: Optional[bool] = None,
                 timed_out: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.timed_out = timed_out


class AuthError(ApiError):
    """401: the token is missing, invalid or expired."""


class ScopeError(ApiError):
    """403: the token lacks a scope this call needs."""


class NotFoundError(ApiError):
    """404: the organization, project or release does not exist (or is not visible)."""


class ValidationError(ApiError):
    """400: Sentry rejected a field."""


class ConnectionFailed(ApiError):
    """The server could not be reached, the TLS handshake failed, it timed out, or the run's
    time budget for Sentry was spent."""
