"""The health signals of a deployed release, read from Sentry once per poll.

- new issues: issues whose first release is this one, first seen in the environment since the
  deploy started (`/issues/`, which needs `event:read`); a token without it falls back to the
  release's own `newGroups` count in that environment, counted from the first poll, without titles;
- crash-free sessions: `healthData` of the release details (`health=1`), readable with the release
  scopes every deploy token has; judged only once enough sessions arrived to mean something.
A signal that cannot be read is reported once (`Watcher.notes`) and left out.
Facts: shared/sentry-api/LIFECYCLE.md "Health after a deploy".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

from sentry_release.errors import NotFoundError, ScopeError, UsageError
from sentry_release.sentry import Context, Reply, seg

if TYPE_CHECKING:  # pragma: no cover
    from sentry_release.sentry import SentryClient

Log = Callable[[str], None]

# Below this many sessions one crash swings the rate by whole percents: not judged yet.
MIN_SESSIONS = 50
SHOWN_ISSUES = 25
HEALTH_PERIOD = "1h"  # the shortest summaryStatsPeriod Sentry accepts


def format_duration(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


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


class Watcher:
    """Reads the signals once per poll, remembering which ones cannot be read."""

    def __init__(self, client: "SentryClient", target: Target, environment: str, log: Log) -> None:
        self.client, self.target, self.environment, self.log = client, target, environment, log
        self.notes: dict[str, str] = {}
        self.can_list_issues = True
        self.baseline: Optional[int] = None    # newGroups at the first poll, for the fallback count
        self.wait_until = 0.0                  # wall-clock time the rate limit resets
        self.read_any = False                  # whether any poll got an answer

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
        self.read_any = True
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
        params = {"health": "1", "summaryStatsPeriod": HEALTH_PERIOD, "environment": self.environment}
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
            self.note("sessions", f"no session data for this release in {self.environment} "
                      "(does the app send sessions?); crash-free sessions are not watched until some arrive")
        elif total >= MIN_SESSIONS:
            result.crash_free = 100.0 * (total - crashed) / total

    def _list_issues(self, result: Poll) -> None:
        since = self.target.since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        version = self.target.version.replace("\\", "\\\\").replace('"', '\\"')
        params = {"project": [str(pid) for pid, _ in self.target.projects], "environment": self.environment,
                  "limit": str(SHOWN_ISSUES), "query": f'firstRelease:"{version}" firstSeen:>={since}'}
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
                               str(i.get("permalink") or ""), _slug(i.get("project"))) for i in items]
        hits = reply.headers.get("X-Hits")
        result.new_issues = int(hits) if hits and hits.isdigit() else len(items)

    def _count_new_groups(self, details: Mapping[str, Any], result: Poll) -> None:
        count = sum(int(p.get("newGroups") or 0) for p in self._watched(details))
        if self.baseline is None:
            self.baseline = count
        result.new_issues = max(0, count - self.baseline)


def _slug(project: Any) -> str:
    return str(project.get("slug") or "") if isinstance(project, dict) else ""
