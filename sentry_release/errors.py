"""One exception hierarchy. Only the CLI turns these into output and exit codes."""

from __future__ import annotations

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
    """Sentry answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None, retryable: bool | None = None,
                 timed_out: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable  # None: unknown; the client sets it for what it saw
        self.timed_out = timed_out  # no answer within the read timeout: the server may still be working


class AuthError(ApiError):
    """401: the token is missing, invalid or expired."""


class ScopeError(ApiError):
    """403: the token lacks a scope this call needs."""


class NotFoundError(ApiError):
    """404: the organization, project or release does not exist (or is not visible)."""


class ValidationError(ApiError):
    """400: Sentry rejected a field."""


class ConnectionFailed(ApiError):
    """The server could not be reached, the TLS handshake failed, or it timed out."""
