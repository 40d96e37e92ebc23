"""`sentry-release watch`: poll a deployed release's health and decide whether the deploy stands.

Signals, in the environment's projects (LIFECYCLE.md "Health after a deploy"):
- new issues: issues whose first release is this one, first seen since the deploy started
  (`/issues/`, which needs `event:read`); a token without it falls back to the release's own
  `newGroups` count in that environment, counted from the watch's first poll, without titles;
- crash-free sessions: `healthData` of the release details (`health=1`), readable with the release
  scopes every deploy token has; judged only once enough sessions arrived to mean something.
A signal that cannot be read is reported once and left out; it never fails the gate by itself.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

from sentry_release.errors import ApiError, AuthError, ConfigError, NotFoundError, ScopeError, UsageError
from sentry_release.sentry import Context, Reply, seg

if TYPE_CHECKING:  # pragma: no cover
    from sentry_release.config import Settings
    from sentry_release.sentry import SentryClient

Log = Callable[[str], None]

# Below this many sessions one crash swings the rate by whole percents: not judged yet.
MIN_SESSIONS = 50
SHOWN_ISSUES = 25
HEALTH_PERIOD = "1h"  # the shortest summaryStatsPeriod Sentry accepts
MIN_INTERVAL = 1.0

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds in `90s`, `10m`, `1h`, `1m30s` or a bare number of seconds."""
    raw = str(text).strip().lower()
    seconds = 0.0
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        seconds = float(raw)
    elif raw and re.fullmatch(f"(?:{_DURATION.pattern})+", raw):
        units = {"h": 3600.0, "m": 60.0, "s": 1.0}
        seconds = sum(float(number) * units[unit] for number, unit in _DURATION.findall(raw))
    else:
        raise ValueError(f"{what} {text!r} is not a duration; write it like 90s, 10m or 1h")
    if seconds <= 0:
        raise ValueError(f"{what} {text!r} must be longer than zero")
    return seconds


def parse_interval(text: Any) -> float:
    seconds = parse_duration(str(text), "interval")
    if seconds < MIN_INTERVAL:
        raise ValueError(f"interval {text!r} is shorter than 1s")
    return seconds


def parse_percent(raw: Any) -> float:
    try:
        value = float(str(raw).strip().rstrip("%"))
    except ValueError:
        raise ValueError(f"{raw!r} is not a percentage such as 99.5") from None
    if not 0.0 <= value <= 100.0:
        raise ValueError(f"{raw!r} is not between 0 and 100")
    return value


def format_duration(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


@dataclass(frozen=True)
class WatchOptions:
    environment: str
    window: float                              # seconds
    interval: float                            # defaults and their reasons: config.KEYS watch_*
    max_new_issues: int
    min_crash_free: float                      # percent


@dataclass(frozen=True)
class Issue:
    short_id: str
    title: str
    link: str
    project: str

    def as_json(self) -> dict[str, str]:
        return {"short_id": self.short_id, "title": self.title, "link": self.link, "project": self.project}


@dataclass
class Poll:
    elapsed: float
    new_issues: Optional[int] = None           # None: not readable this time
    issues: list[Issue] = field(default_factory=list)
    crash_free: Optional[float] = None         # percent; None: no (or too few) sessions
    sessions: int = 0
    failed: Optional[str] = None               # a transient error that cost this poll

    def line(self) -> str:
        if self.failed:
            return f"{format_duration(self.elapsed)}: poll failed ({self.failed}); watching on"
        issues = "new issues ?" if self.new_issues is None else f"new issues {self.new_issues}"
        if self.crash_free is not None:
            rate = f"crash-free {self.crash_free:.2f}% of {self.sessions} sessions"
        elif self.sessions:
            rate = f"crash-free not judged yet ({self.sessions} of {MIN_SESSIONS} sessions)"
        else:
            rate = "crash-free n/a (no sessions)"
        return f"{format_duration(self.elapsed)}: {issues}, {rate}"


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
    unmeasured: list[str] = field(default_factory=list)

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
        shown += [f"  note: {note}" for note in self.unmeasured]
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
            "crash_free": self.crash_free, "sessions": self.sessions, "unmeasured": self.unmeasured,
        }


@dataclass(frozen=True)
class Target:
    org: str
    version: str
    url: str
    projects: tuple[tuple[int, str], ...]      # (id, slug) of the watched projects
    since: datetime                            # when the deploy started (else finished)

    @property
    def path(self) -> str:
        return f"organizations/{seg(self.org)}/releases/{seg(self.version)}/"

    def web_url(self, environment: str) -> str:
        return f"{self.url.rstrip('/')}/organizations/{seg(self.org)}/releases/{seg(self.version)}/" \
               f"?environment={seg(environment)}"

    def context(self, action: str, scope: str = "project:releases") -> Context:
        return Context(action=f"{action} release {self.version} in organization {self.org}",
                       not_found=f"release {self.version!r} does not exist in organization {self.org!r}, "
                                 "or the token cannot see its projects", scope=scope)


# -- entry point ----------------------------------------------------------------------------

def options_from(settings: "Settings", environment: Optional[str], window: float) -> WatchOptions:
    """Thresholds as resolved by config: flag > [tool.sentry-release.environments.<env>] > default."""
    if not environment:
        raise ConfigError("no environment to watch: pass -e/--environment (e.g. -e production)")
    return WatchOptions(environment, window, float(settings.watch_interval), int(settings.watch_max_new_issues),
                        float(settings.watch_min_crash_free))


def choose_release(settings: "Settings", project_dir: Path, environ: Mapping[str, str], log: Log) -> str:
    """--release / SENTRY_RELEASE, else the name deploy wrote into the .env, else the derived name."""
    from sentry_release.derive import derive_release

    if not settings.release and settings.env_file:
        path = Path(settings.env_file)
        key = next(iter(settings.env_keys), "RELEASE")
        written = _env_value(path, key)
        if written:
            log(f"release {written} ({key} in {path})")
            return written
    derivation = derive_release(settings, project_dir, environ, log)
    log(f"release {derivation.name} (from {derivation.source})")
    return derivation.name


def _env_value(path: Path, key: str) -> Optional[str]:
    from sentry_release.check import parse_env_text

    try:
        entries = parse_env_text(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    entry = entries.get(key)
    return entry.value if entry and entry.value else None


def run(settings: "Settings", release: str, options: WatchOptions, log: Log,
        debug: Log = lambda line: None) -> Verdict:
    """Watch `release` in `options.environment` with a client of its own (not the deploy's)."""
    from sentry_release.sentry import SentryClient

    if not settings.org:
        raise ConfigError("no organization: pass --org, set SENTRY_ORG, or use an org auth token")
    # One poll's retries end before the next poll is due: a stuck poll never stretches the window.
    # TODO(lead): pass the whole-run budget (options.window + margin) once SentryClient takes one.
    with SentryClient(settings.url, settings.auth_token, timeout=settings.timeout,
                      max_retries=settings.max_retries, max_retry_seconds=max(options.interval, 10.0),
                      ca_bundle=settings.ca_bundle, log=log, debug=debug) as client:
        target = resolve_target(client, settings.org, tuple(settings.projects), release, settings.url,
                                options.environment, log)
        return watch(client, target, options, log)


def resolve_target(client: "SentryClient", org: str, slugs: Sequence[str], version: str, url: str,
                   environment: str, log: Log) -> Target:
    """The release's watched projects and when its deploy to `environment` began."""
    probe = Target(org, version, url, (), datetime.now(timezone.utc))
    try:
        details = client.get(probe.path, probe.context("read")).data or {}
        deploys = list(client.paginate(probe.path + "deploys/", probe.context("list the deploys of")))
    except NotFoundError as exc:
        raise UsageError(f"{exc}; name the deployed release with --release") from None
    projects = [(int(p["id"]), str(p["slug"])) for p in details.get("projects") or []]
    chosen = [p for p in projects if not slugs or p[1] in slugs]
    if not chosen:
        raise UsageError(f"release {version} belongs to {', '.join(s for _, s in projects) or 'no project'}, "
                         f"not to {', '.join(slugs)}: check --project")
    ours = [d for d in deploys if d.get("environment") == environment]
    if not ours:
        raise UsageError(f"release {version} has no deploy in {environment!r}: deploy it first "
                         f"(sentry-release deploy -e {environment}) or check -e / --release")
    latest = max(ours, key=lambda d: parse_time(d.get("dateFinished")))
    since = parse_time(latest.get("dateStarted") or latest.get("dateFinished"))
    log(f"watching release {version} in {environment} ({', '.join(s for _, s in chosen)}), "
        f"deployed {since.strftime('%Y-%m-%d %H:%M:%S')} UTC")
    return Target(org, version, url, tuple(chosen), since)


def parse_time(value: Any) -> datetime:
    text = str(value or "").strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(timezone.utc)  # a deploy without dates: count from now
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# -- the loop -------------------------------------------------------------------------------

class Watcher:
    """Reads the signals once per poll, remembering which ones cannot be read."""

    def __init__(self, client: "SentryClient", target: Target, options: WatchOptions, log: Log) -> None:
        self.client, self.target, self.options, self.log = client, target, options, log
        self.notes: dict[str, str] = {}
        self.can_list_issues = True
        self.baseline: Optional[int] = None    # newGroups at the first poll, for the fallback count
        self.wait_until = 0.0                  # wall-clock time the rate limit resets

    def note(self, key: str, text: str) -> None:
        if key not in self.notes:
            self.notes[key] = text
            self.log(f"note: {text}")

    def poll(self, elapsed: float) -> Poll:
        result = Poll(elapsed)
        details = self._release_health()
        if details is not None:
            self._crash_free(details, result)
        if self.can_list_issues:
            self._list_issues(result)
        if not self.can_list_issues and details is not None:
            self._count_new_groups(details, result)
        return result

    def _remember_limits(self, reply: Reply) -> None:
        remaining = reply.headers.get("X-Sentry-Rate-Limit-Remaining")
        reset = reply.headers.get("X-Sentry-Rate-Limit-Reset")
        if remaining is not None and reset and remaining.strip() in ("0", "0.0"):
            try:
                self.wait_until = max(self.wait_until, float(reset))
            except ValueError:
                pass

    def _release_health(self) -> Optional[Mapping[str, Any]]:
        params = {"health": "1", "summaryStatsPeriod": HEALTH_PERIOD, "environment": self.options.environment}
        try:
            reply = self.client.get(self.target.path, self.target.context("read the health of"), params)
        except ScopeError:
            self.note("health", "the token cannot read the release's health (project:releases); "
                      "crash-free sessions are not watched")
            return None
        self._remember_limits(reply)
        return reply.data if isinstance(reply.data, dict) else None

    def _watched(self, details: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        ids = {pid for pid, _ in self.target.projects}
        return [p for p in details.get("projects") or [] if isinstance(p, dict) and p.get("id") in ids]

    def _crash_free(self, details: Mapping[str, Any], result: Poll) -> None:
        total = crashed = 0
        for project in self._watched(details):
            health = project.get("healthData") or {}
            total += int(health.get("totalSessions") or 0)
            crashed += int(health.get("sessionsCrashed") or 0)
        result.sessions = total
        if total == 0:
            self.note("sessions", f"no session data for this release in {self.options.environment} "
                      "(does the app send sessions?); crash-free sessions are not watched until some arrive")
        elif total >= MIN_SESSIONS:
            result.crash_free = 100.0 * (total - crashed) / total

    def _list_issues(self, result: Poll) -> None:
        since = self.target.since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        params = {"project": [str(pid) for pid, _ in self.target.projects], "environment": self.options.environment,
                  "limit": str(SHOWN_ISSUES), "query": f'firstRelease:"{self.target.version}" firstSeen:>={since}'}
        path = f"organizations/{seg(self.target.org)}/issues/"
        try:
            reply = self.client.request("GET", path, Context(f"list new issues of release {self.target.version}",
                                                             scope="event:read"), params=params)
        except ScopeError:
            self.can_list_issues = False
            self.note("issues", "the token cannot list issues (it lacks event:read): new issues are counted "
                      "from the release's newGroups since the watch began, without titles")
            return
        self._remember_limits(reply)
        items = [item for item in reply.data or [] if isinstance(item, dict)]
        result.issues = [Issue(str(i.get("shortId") or i.get("id")), str(i.get("title") or ""),
                               str(i.get("permalink") or ""), str((i.get("project") or {}).get("slug") or ""))
                         for i in items]
        hits = reply.headers.get("X-Hits")
        result.new_issues = int(hits) if hits and hits.isdigit() else len(items)

    def _count_new_groups(self, details: Mapping[str, Any], result: Poll) -> None:
        count = sum(int(p.get("newGroups") or 0) for p in self._watched(details))
        if self.baseline is None:
            self.baseline = count
        result.new_issues = max(0, count - self.baseline)


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
    watcher = Watcher(client, target, options, log)
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
    verdict.unmeasured = list(watcher.notes.values())
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
