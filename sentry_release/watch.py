"""`sentry-release watch`: poll a deployed release's health and decide whether the deploy stands.

The entry point is `run(settings, release, options, log) -> Verdict` (its own SentryClient); the
signals it reads are in `health.py`. A signal that cannot be read is reported once and left out:
it never fails the gate by itself, nor does a poll lost to transient errors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from sentry_release.errors import ApiError, AuthError, ConfigError, NotFoundError
from sentry_release.health import Issue, Poll, Target, Watcher, format_duration, resolve_target

if TYPE_CHECKING:  # pragma: no cover
    from sentry_release.config import Settings
    from sentry_release.sentry import SentryClient

Log = Callable[[str], None]

@dataclass(frozen=True)
class WatchOptions:
    environment: str
    window: float                              # seconds
    interval: float                            # defaults and their reasons: config.KEYS watch_*
    max_new_issues: int
    min_crash_free: float                      # percent


@dataclass
class Verdict:
    status: str                                # healthy | unhealthy | interrupted
    release: str
    environment: str
    release_url: str
    elapsed: float
    polls: int
    options: WatchOptions
    threshold: Optional[str] = None            # max-new-issues | min-crash-free
    measured: Optional[float] = None
    new_issues: Optional[int] = None
    issues: list[Issue] = field(default_factory=list)
    crash_free: Optional[float] = None
    sessions: int = 0
    notes: list[str] = field(default_factory=list)   # what could not be read, said once

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"

    @property
    def exit_code(self) -> int:
        return {"healthy": 0, "unhealthy": 1}.get(self.status, 130)

    def headline(self) -> str:
        where = f"release {self.release} in {self.environment}"
        if self.status == "unhealthy" and self.threshold == "max-new-issues":
            return (f"unhealthy: {where} has {self.new_issues} new issue(s), over max-new-issues "
                    f"{self.options.max_new_issues}")
        if self.status == "unhealthy":
            return (f"unhealthy: {where} is {self.crash_free:.2f}% crash-free over {self.sessions} sessions, "
                    f"under min-crash-free {self.options.min_crash_free:g}%")
        if self.status == "interrupted":
            return f"interrupted after {format_duration(self.elapsed)}: no verdict for {where}"
        measured = [f"{self.new_issues} new issue(s)" if self.new_issues is not None else "new issues not measured",
                    f"{self.crash_free:.2f}% crash-free" if self.crash_free is not None else "crash-free not measured"]
        return f"healthy: {where} after {format_duration(self.elapsed)} ({', '.join(measured)})"

    def lines(self) -> list[str]:
        shown = [self.headline()]
        shown += [f"  {issue.short_id} {issue.title} {issue.link}" for issue in self.issues]
        if self.new_issues and not self.issues:
            shown.append("  (issue titles need a token with event:read)")
        shown += [f"  note: {note}" for note in self.notes]
        shown.append(f"  release: {self.release_url}")
        return shown

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status, "healthy": self.healthy, "release": self.release,
            "environment": self.environment, "release_url": self.release_url,
            "elapsed_seconds": round(self.elapsed, 1), "polls": self.polls,
            "threshold": self.threshold, "measured": self.measured,
            "thresholds": {"max_new_issues": self.options.max_new_issues,
                           "min_crash_free": self.options.min_crash_free},
            "new_issues": self.new_issues, "issues": [issue.as_json() for issue in self.issues],
            "crash_free": self.crash_free, "sessions": self.sessions, "notes": self.notes,
        }


# -- entry point ----------------------------------------------------------------------------

def options_from(settings: "Settings", environment: Optional[str], window: float) -> WatchOptions:
    """Thresholds as resolved by config: flag > [tool.sentry-release.environments.<env>] > default."""
    if not environment:
        raise ConfigError("no environment to watch: pass -e/--environment (e.g. -e production)")
    return WatchOptions(environment, window, float(settings.watch_interval), int(settings.watch_max_new_issues),
                        float(settings.watch_min_crash_free))


def choose_release(settings: "Settings", project_dir: Path, log: Log) -> str:
    """--release / SENTRY_RELEASE, else the name deploy wrote into the .env, else the derived name."""
    from sentry_release.derive import derive_release

    if not settings.release and settings.env_file:
        path = Path(settings.env_file)
        key = next(iter(settings.env_keys), "RELEASE")
        written = _env_value(path, key)
        if written:
            log(f"release {written} ({key} in {path})")
            return written
    derivation = derive_release(settings, project_dir, log)
    log(f"release {derivation.name} (from {derivation.source})")
    return derivation.name


def _env_value(path: Path, key: str) -> Optional[str]:
    from sentry_release.envfile import DOTENV, parse_env, readings

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    found = readings(parse_env(text), DOTENV).get(key)
    return found[1] if found and found[1] else None


def run(settings: "Settings", release: str, options: WatchOptions, log: Log,
        debug: Log = lambda line: None) -> Verdict:
    """Watch `release` in `options.environment` with a client of its own (not the deploy's)."""
    from sentry_release.sentry import SentryClient

    if not settings.org:
        raise ConfigError("no organization: pass --org, set SENTRY_ORG, or use an org auth token")
    # A budget of its own, not the deploy's: the window, and the usual run budget for the requests
    # around it (only time spent waiting on Sentry counts, not the pauses between polls).
    with SentryClient(settings.url, settings.auth_token, timeout=settings.timeout,
                      max_retries=settings.max_retries, budget=options.window + settings.http_budget,
                      ca_bundle=settings.ca_bundle, log=log, debug=debug) as client:
        target = resolve_target(client, settings.org, tuple(settings.projects), release, settings.url,
                                options.environment, log)
        return watch(client, target, options, log)


# -- the loop -------------------------------------------------------------------------------

def crossed(poll: Poll, options: WatchOptions) -> Optional[tuple[str, float]]:
    """The first threshold this poll crosses, with the measured value."""
    if poll.new_issues is not None and poll.new_issues > options.max_new_issues:
        return "max-new-issues", float(poll.new_issues)
    if poll.crash_free is not None and poll.crash_free < options.min_crash_free:
        return "min-crash-free", round(poll.crash_free, 2)
    return None


def watch(client: "SentryClient", target: Target, options: WatchOptions, log: Log,
          clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Verdict:
    """Poll until a threshold is crossed or the window ends; Ctrl-C gives an `interrupted` verdict."""
    watcher = Watcher(client, target, options.environment, log)
    started = clock()
    verdict = Verdict("healthy", target.version, options.environment, target.web_url(options.environment),
                      0.0, 0, options)
    log(f"window {format_duration(options.window)}, a poll every {format_duration(options.interval)}; "
        f"fails over {options.max_new_issues} new issue(s) or under {options.min_crash_free:g}% crash-free")
    try:
        while True:
            poll = _safe_poll(watcher, clock() - started)
            verdict.polls += 1
            log(poll.line())
            _keep(verdict, poll)
            hit = crossed(poll, options)
            if hit is not None:
                verdict.status, (verdict.threshold, verdict.measured) = "unhealthy", hit
                break
            left = options.window - (clock() - started)
            if left <= 0:
                break
            sleep(min(left, max(options.interval, watcher.wait_until - time.time())))
    except KeyboardInterrupt:
        verdict.status = "interrupted"
    verdict.elapsed = clock() - started
    if verdict.polls and not watcher.read_any:
        watcher.note("polls", "no poll could be read: the release's health was not measured")
    verdict.notes = list(watcher.notes.values())
    return verdict


def _safe_poll(watcher: Watcher, elapsed: float) -> Poll:
    """A poll whose errors, after the client's retries, cost only this poll."""
    try:
        return watcher.poll(elapsed)
    except (AuthError, NotFoundError):
        raise  # the token or the release went away: no later poll can succeed
    except ApiError as exc:
        return Poll(elapsed, failed=str(exc))


def _keep(verdict: Verdict, poll: Poll) -> None:
    if poll.failed:
        return
    if poll.new_issues is not None:
        verdict.new_issues, verdict.issues = poll.new_issues, poll.issues
    if poll.crash_free is not None or poll.sessions:
        verdict.crash_free, verdict.sessions = poll.crash_free, poll.sessions
