"""Check requests against Sentry's published OpenAPI document (shared/sentry-api/releases-subset.json).

The spec is read from the ``shared`` folder beside the checkout (or ``$SENTRY_RELEASE_SHARED_DIR``),
never copied into the project. Without it only this layer is skipped, with a reason.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

SHARED_DIR_ENV = "SENTRY_RELEASE_SHARED_DIR"
SPEC_RELATIVE = Path("sentry-api") / "releases-subset.json"
# The spec's `servers` are https://{us,de}.sentry.io; loopback requests are checked as if sent there.
SPEC_HOST_URL = "https://us.sentry.io"

# Read at import time: the test suite's autouse fixture clears SENTRY_* variables later.
_SHARED_DIR_FROM_ENV = os.environ.get(SHARED_DIR_ENV)


def default_shared_dir(env_value: str | None = _SHARED_DIR_FROM_ENV) -> Path:
    if env_value:
        return Path(env_value)
    checkout = Path(__file__).resolve().parents[2]
    return (checkout / ".." / "shared").resolve()


@dataclass(frozen=True)
class PendingRequest:
    method: str
    path: str  # percent-encoded, as received
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    body: bytes
    content_type: str


class _SpecCache:
    """One parsed spec per file per process: parsing the 764 KB document takes seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._specs: dict[Path, Any] = {}

    def get(self, path: Path) -> Any:
        with self._lock:
            if path not in self._specs:
                from openapi_core import OpenAPI

                self._specs[path] = OpenAPI.from_file_path(str(path))
            return self._specs[path]


_SPECS = _SpecCache()


class ContractChecker:
    """Validates recorded requests lazily, so checking never slows an answer down."""

    def __init__(self, shared_dir: Path | None = None) -> None:
        self.shared_dir = shared_dir if shared_dir is not None else default_shared_dir()
        self.spec_path = self.shared_dir / SPEC_RELATIVE
        self.skip_reason = self._find_skip_reason()
        self._lock = threading.Lock()
        self._pending: list[PendingRequest] = []
        self.violations: list[str] = []
        self.notes: list[str] = []

    def _find_skip_reason(self) -> str | None:
        if not self.spec_path.is_file():
            return (
                f"contract checks skipped: {self.spec_path} not found "
                f"(set {SHARED_DIR_ENV} to the shared folder that holds sentry-api/)"
            )
        try:
            import openapi_core  # noqa: F401
        except ImportError:
            return "contract checks skipped: openapi-core is not installed"
        return None

    @property
    def enabled(self) -> bool:
        return self.skip_reason is None

    def require(self) -> None:
        """``pytest.skip`` with the reason when the contract layer is unavailable."""
        if self.skip_reason is not None:
            import pytest

            pytest.skip(self.skip_reason)

    def warm_up(self) -> None:
        """Parse the spec in the background so the first check does not wait for it."""
        if self.enabled:
            threading.Thread(target=self._load_quietly, name="openapi-warm-up", daemon=True).start()

    def _load_quietly(self) -> None:
        try:
            _SPECS.get(self.spec_path)
        except Exception:  # reported again, properly, by the first real check
            pass

    def record(self, request: PendingRequest) -> None:
        if self.enabled:
            with self._lock:
                self._pending.append(request)

    def check_pending(self) -> list[str]:
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            spec = _SPECS.get(self.spec_path)
            for request in pending:
                self._check(spec, request)
        return self.violations

    def clear(self) -> None:
        with self._lock:
            self._pending = []
            self.violations = []
            self.notes = []

    def _check(self, spec: Any, request: PendingRequest) -> None:
        from openapi_core.templating.paths.exceptions import PathNotFound
        from openapi_core.testing import MockRequest
        from werkzeug.datastructures import ImmutableMultiDict

        label = f"{request.method} {request.path}"
        mock = MockRequest(
            SPEC_HOST_URL,
            request.method.lower(),
            request.path,
            args=ImmutableMultiDict(list(request.query)),
            headers=dict(request.headers),
            data=request.body or None,
            content_type=request.content_type,
        )
        try:
            spec.validate_request(mock)
        except PathNotFound:
            self.notes.append(f"{label}: path not in the published spec, not checked")
        except Exception as error:  # every openapi-core validation error is a violation
            self.violations.append(f"{label}: {type(error).__name__}: {_describe(error)}")


def _describe(error: BaseException) -> str:
    causes = [str(error)]
    cause = error.__cause__
    while cause is not None and len(causes) < 4:
        nested = getattr(cause, "schema_errors", None)
        causes.append("; ".join(str(e.message) for e in nested) if nested else str(cause))
        cause = cause.__cause__
    return " <- ".join(dict.fromkeys(part for part in causes if part))


def content_type_of(headers: Mapping[str, str] | Sequence[tuple[str, str]]) -> str:
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        if key.lower() == "content-type":
            return value.split(";")[0].strip()
    return "application/json"
