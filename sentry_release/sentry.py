"""Sentry API client on httpx: auth, timeouts, bounded retries, pagination, actionable errors.

One `SentryClient` per run keeps one connection pool (keep-alive) and one time budget: all of the
run's requests, their attempts and the waits between them share it, and each attempt's timeouts
are capped by what is left, so a Sentry that never answers ends the run within the budget. The
token is sent only in the Authorization header and never appears in a message, log line or exception.
"""

from __future__ import annotations

import json as jsonlib
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional
from urllib.parse import quote, urlsplit

from sentry_release import __version__
from sentry_release.budget import DEFAULT_BUDGET_SECONDS, TimeBudget
from sentry_release.errors import (
    ApiError, AuthError, ConfigError, ConnectionFailed, NotFoundError, ScopeError, ValidationError,
)

if TYPE_CHECKING:  # pragma: no cover
    import httpx

Log = Callable[[str], None]
USER_AGENT = f"sentry-release/{__version__}"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_PAGES = 1000
MORE_TIME = "allow more time with --http-budget (SENTRY_HTTP_BUDGET)"
NO_ANSWER_FIX = f"check that SENTRY_URL reaches a running Sentry, or {MORE_TIME}"


def preload() -> None:
    """Import httpx (and httpcore, which it loads on first use) on another thread while the
    caller runs git: together they cost over 100 ms.

    httpx's package imports its own command-line tool, which loads rich and pygments when they
    are installed (about 50 ms more); the command line never uses that tool, so it is left out.
    """
    import sys
    import threading

    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None: "not importable"

    def load() -> None:
        import httpcore  # noqa: F401
        import httpx  # noqa: F401

    threading.Thread(target=load, daemon=True).start()


def seg(value: str) -> str:
    """Percent-encode one URL path segment (a release version may hold `+`, `#`, `?`, spaces)."""
    return quote(str(value), safe="")


@dataclass
class Reply:
    status: int
    data: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    links: Mapping[Optional[str], Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """What a request is for, so its errors can say what to fix."""

    action: str                              # "create release v1 in acme"
    not_found: str = "the organization or release was not found"
    scope: str = "project:releases"


@dataclass
class PlannedRequest:
    method: str
    path: str
    body: Any = None
    params: Optional[Mapping[str, Any]] = None


class SentryClient:
    def __init__(
        self,
        url: str,
        token: Optional[str],
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        max_retries: int = 5,
        budget: float = DEFAULT_BUDGET_SECONDS,
        ca_bundle: Optional[str] = None,
        log: Log = lambda line: None,
        debug: Log = lambda line: None,
        dry_run: bool = False,
        pipeline: Optional[str] = None,
        transport: Optional["httpx.BaseTransport"] = None,
    ) -> None:
        self.base_url = url.rstrip("/") + "/api/0/"
        self.host = urlsplit(url).netloc or url
        self._token = token
        self._timeout = (connect_timeout, timeout)
        self.max_retries = max_retries
        self.budget = TimeBudget(budget)
        self._ca_bundle = ca_bundle
        self.log = log
        self._debug = debug
        self._transport = transport
        self._http: Optional["httpx.Client"] = None
        self.dry_run = dry_run
        # SENTRY_PIPELINE names the CI integration in the User-Agent, as sentry-cli does
        self.user_agent = f"{USER_AGENT} {pipeline}" if pipeline else USER_AGENT
        self._offline = False
        self.plan: list[PlannedRequest] = []
        self.requests_sent = 0

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> "SentryClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    @property
    def read_timeout(self) -> float:
        return self._timeout[1]

    def extend_budget(self, seconds: float, why: str) -> None:
        """Give the run more time for requests that need it (a large upload), and say so first."""
        self.budget.extend(seconds)
        self.log(f"{why}: allowing {seconds:.0f} s more")

    def sleep(self, seconds: float) -> None:
        """Wait before trying again, never past the time budget, of which the wait is part (Ctrl-C ends it)."""
        with self.budget.counting():
            time.sleep(max(0.0, min(seconds, self.budget.left)))

    @property
    def can_read(self) -> bool:
        """Whether GETs go to the server (a dry run without a token, or unreachable, stays offline)."""
        return bool(self._token) and not self._offline

    def _client(self) -> "httpx.Client":
        if self._http is None:
            import httpx

            # Plain http needs no certificates: skipping the CA bundle load saves ~60 ms per run.
            verify: Any = not self.base_url.startswith("http://")
            if self._ca_bundle and verify:
                import ssl

                try:
                    verify = ssl.create_default_context(cafile=self._ca_bundle)
                except (OSError, ssl.SSLError) as exc:
                    raise ConnectionFailed(f"cannot load CA bundle {self._ca_bundle}: {exc}") from None
            headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            connect, read = self._timeout
            self._http = httpx.Client(
                base_url=self.base_url,
                headers=headers,
                timeout=httpx.Timeout(read, connect=connect),
                verify=verify,
                transport=self._transport,
                follow_redirects=False,
            )
        return self._http

    # -- requests ------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        context: Context,
        *,
        json: Any = None,
        params: Optional[Mapping[str, Any]] = None,
        retry: bool = True,
        read_timeout: Optional[float] = None,
    ) -> Reply:
        """Send one request with bounded retries; return the reply or raise an ApiError.

        Attempts and the waits between them draw on the client's time budget; when it is spent
        the error says so and how to allow more.

        A `read_timeout` longer than the usual one suits requests Sentry takes long to process;
        such a request is not re-sent after a read timeout (the server may still be working on it),
        the caller gets a ConnectionFailed with `timed_out` set and decides.
        """
        if self.dry_run and method != "GET":
            self.plan.append(PlannedRequest(method, path, json, params))
            return Reply(status=0, data=None)
        if not self._token:
            raise ConfigError("no auth token: set SENTRY_AUTH_TOKEN or pass --auth-token")
        attempt = 0
        failure: Optional[ApiError] = None
        while True:
            left = self.budget.left
            if left <= 0:
                raise self._out_of_time(failure, context)
            with self.budget.counting():
                outcome, delay = self._attempt(method, path, context, json, params, attempt,
                                               self._timeouts(read_timeout, left))
            if isinstance(outcome, Reply):
                return outcome
            failure = outcome
            if read_timeout is not None and failure.timed_out:
                raise failure
            if self.dry_run and isinstance(failure, ConnectionFailed):
                # a plan needs no server: say so once and plan without what it would have told us
                self.log(f"dry run: {failure}; planning without the server's data")
                self._offline = True
                return Reply(status=0, data=None)
            attempt += 1
            again = retry and failure.retryable is not False and attempt <= self.max_retries
            if failure.retryable is not False and (self.budget.left <= 0 or again and delay >= self.budget.left):
                raise self._out_of_time(failure, context, delay if again else 0.0)
            if not again:
                raise failure
            self.log(f"{method} {path}: {failure}; retry {attempt}/{self.max_retries} in {delay:.1f} s")
            self.sleep(delay)

    def _timeouts(self, read_timeout: Optional[float], left: float) -> "httpx.Timeout":
        """This attempt's timeouts: the usual ones (or the caller's longer read timeout), capped
        by what is left of the run's budget."""
        import httpx

        connect, read = self._timeout
        read = min(read if read_timeout is None else read_timeout, left)
        return httpx.Timeout(read, connect=min(connect, left))

    def _out_of_time(self, failure: Optional[ApiError], context: Context, delay: float = 0.0) -> ApiError:
        """The error that ends a run whose time budget for Sentry is spent: one line, with the fix."""
        budget = f"the run's {_seconds(self.budget.allowed)} time budget for Sentry"
        if failure is None:
            return ConnectionFailed(f"no time left to {context.action} on {self.host}: {budget} is spent; "
                                    f"{NO_ANSWER_FIX}", retryable=False)
        if delay and failure.status is not None and self.budget.left > 0:  # e.g. a long Retry-After
            what = f"{failure}; the next try, in {delay:.0f} s, would come after the end of {budget}"
        else:
            what = f"{failure}; {budget} is spent"
        fix = NO_ANSWER_FIX if failure.status is None else MORE_TIME
        return type(failure)(f"{what}; {fix}", failure.status, retryable=False, timed_out=failure.timed_out)

    def _attempt(self, method: str, path: str, context: Context, json: Any,
                 params: Optional[Mapping[str, Any]], attempt: int,
                 timeout: "httpx.Timeout") -> tuple[Reply | ApiError, float]:
        import httpx

        began = time.monotonic()
        try:
            self.requests_sent += 1
            response = self._client().request(method, path, json=json, params=params, timeout=timeout)
        except httpx.TransportError as exc:
            error = self._transport_error(exc, timeout)
            self._debug(f"{method} /api/0/{path} -> {error} ({time.monotonic() - began:.2f} s)")
            return error, backoff(attempt)
        self._debug(f"{method} /api/0/{path} -> {response.status_code} ({time.monotonic() - began:.2f} s)")
        reply = Reply(response.status_code, _json_or_text(response), response.headers, response.links)
        if response.status_code < 400:
            not_sentry = self._not_sentry(response, reply)
            return (not_sentry, 0.0) if not_sentry else (reply, 0.0)
        return self._status_error(reply, context), retry_delay(reply, attempt)

    def _not_sentry(self, response: "httpx.Response", reply: Reply) -> Optional[ApiError]:
        """A redirect or a web page where JSON belongs: SENTRY_URL is not the Sentry API."""
        if 300 <= response.status_code < 400:
            target = response.headers.get("location", "elsewhere")
            what = f"redirected to {target}"
        elif response.content and not isinstance(reply.data, (dict, list)):
            what = f"answered {response.headers.get('content-type') or 'a body'} instead of JSON"
        else:
            return None
        return ApiError(f"{self.host} {what}: it does not answer like the Sentry API; check SENTRY_URL",
                        response.status_code, retryable=False)

    def _transport_error(self, exc: Exception, timeout: "httpx.Timeout") -> ConnectionFailed:
        import httpx

        if isinstance(exc, httpx.ReadTimeout):
            return ConnectionFailed(f"{self.host} did not answer within the read timeout ({_seconds(timeout.read)})",
                                    retryable=True, timed_out=True)
        if isinstance(exc, httpx.TimeoutException):
            limit = timeout.connect if isinstance(exc, httpx.ConnectTimeout) else timeout.read
            kind = f"timed out ({_seconds(limit)})"
        elif "CERTIFICATE" in str(exc).upper() or "SSL" in str(exc).upper():
            return ConnectionFailed(
                f"TLS verification of {self.host} failed ({_short(exc)}); "
                "set SENTRY_CA_BUNDLE to your CA certificate file", retryable=False,
            )
        else:
            kind = f"failed ({_short(exc) or type(exc).__name__})"
        return ConnectionFailed(f"connection to {self.host} {kind}", retryable=True)

    def _status_error(self, reply: Reply, context: Context) -> ApiError:
        status, detail = reply.status, _detail(reply.data)
        retryable = status in RETRY_STATUSES or (status == 409 and "being processed" in detail)
        if status == 401:
            return AuthError(f"Sentry rejected the auth token ({detail or 'unauthorized'}): check SENTRY_AUTH_TOKEN",
                             status, retryable=retryable)
        if status == 403:
            return ScopeError(f"the auth token may not {context.action}: it lacks the {context.scope} scope; "
                              "create a token with that scope", status, retryable=retryable)
        if status == 404:
            return NotFoundError(f"cannot {context.action}: {context.not_found}", status, retryable=retryable)
        if status == 400:
            return ValidationError(f"Sentry refused to {context.action}: {_field_errors(reply.data)}", status,
                                   retryable=retryable)
        return ApiError(f"Sentry failed to {context.action} (HTTP {status}{': ' + detail if detail else ''})",
                        status, retryable=retryable)

    def get(self, path: str, context: Context, params: Optional[Mapping[str, Any]] = None) -> Reply:
        return self.request("GET", path, context, params=params)

    def paginate(self, path: str, context: Context, params: Optional[Mapping[str, Any]] = None) -> Iterator[Any]:
        """Every item of a list endpoint, following `Link: rel="next"; results="true"`."""
        query = dict(params or {})
        for _ in range(MAX_PAGES):
            reply = self.get(path, context, query)
            yield from reply.data or []
            following = reply.links.get("next", {})
            if following.get("results") != "true" or not following.get("cursor"):
                return
            query["cursor"] = following["cursor"]


def backoff(attempt: int) -> float:
    """Exponential backoff with jitter: parallel CI jobs do not retry in lock-step."""
    return random.uniform(0.5, 1.0) * min(8.0, 0.5 * 2.0 ** attempt)


def retry_delay(reply: Reply, attempt: int) -> float:
    """Honour Retry-After, then Sentry's rate-limit reset time, else back off."""
    after = reply.headers.get("Retry-After")
    if after:
        try:
            return max(0.0, float(after))
        except ValueError:
            pass
    reset = reply.headers.get("X-Sentry-Rate-Limit-Reset")
    if reply.status == 429 and reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            pass
    return backoff(attempt)


def _json_or_text(response: "httpx.Response") -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text[:300]


def _detail(data: Any) -> str:
    if isinstance(data, dict):
        detail = data.get("detail")
        if isinstance(detail, dict):
            return str(detail.get("message") or detail.get("code") or "")
        if detail:
            return str(detail)
    if isinstance(data, str) and not data.lstrip().startswith("<"):  # HTML error pages say nothing useful
        return " ".join(data.split())[:200]
    return ""


def _field_errors(data: Any) -> str:
    """Flatten DRF's `{"field": ["msg"], "commits": {"0": {...}}}` into one line."""
    if isinstance(data, dict) and "detail" in data:
        return _detail(data)
    parts: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{where}.{key}" if where else str(key))
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            parts.append(f"{where}: {' '.join(value)}" if where else " ".join(value))
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, f"{where}[{index}]")
        else:
            parts.append(f"{where}: {value}" if where else str(value))

    walk(data, "")
    return "; ".join(parts) or jsonlib.dumps(data)[:200]


def _seconds(value: Optional[float]) -> str:
    if value is None:
        return "no time limit"
    return f"{value:.0f} s" if value >= 10 else f"{value:.2g} s"


def _short(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1][:200] if text else ""
