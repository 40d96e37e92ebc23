"""What an environment last received: the release with the newest *deploy* to it, in the same project(s).

Sentry has no such query. Its environment-filtered release list holds only releases with a deploy there,
but ordered by release date, and each item's `lastDeploy` is the newest deploy in *any* environment
(sentry-api/LIFECYCLE.md). So: one list per project, then the exact deploy time of each candidate —
free when its `lastDeploy` is to this environment, one deploys lookup otherwise, and only while that
candidate could still beat the best time found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from sentry_release.clock import human_utc, parse_iso
from sentry_release.releases import JSON, ReleaseTarget, release_deploys
from sentry_release.sentry import Context, SentryClient, seg

Log = Callable[[str], None]
# One page of the newest releases deployed to the environment; a rollback further back than this
# many releases is not seen (Sentry's largest page).
CANDIDATES = 100
_EPOCH = datetime.fromtimestamp(0, tz=timezone.utc)


@dataclass(frozen=True)
class Deployed:
    """A release as an environment received it."""

    version: str
    ref: Optional[str]            # the commit it was built from, when it was recorded
    last_commit: Optional[str]    # the newest stored commit by timestamp: a fallback for `ref` only
    deployed_at: Optional[str]    # dateFinished of its newest deploy to the environment
    deploy_id: Optional[str] = None

    @property
    def head(self) -> Optional[str]:
        return self.ref or self.last_commit


@dataclass(frozen=True)
class History:
    environment: str
    newest: Optional[Deployed]      # the environment's newest deploy, whichever release
    previous: Optional[Deployed]    # the newest deploy of any *other* release: where a range starts
    known: bool = True              # False: could not be read (a dry run without the server)

    def is_newest(self, version: str) -> bool:
        return self.newest is not None and self.newest.version == version


def environment_history(client: SentryClient, target: ReleaseTarget, environment: str) -> History:
    if not client.can_read:
        return History(environment, None, None, known=False)
    candidates = _candidates(client, target, environment)
    ranked = _rank_by_deploy_time(client, target, environment, candidates)
    newest = ranked[0] if ranked else None
    previous = next((d for d in ranked if d.version != target.version), None)
    return History(environment, newest, previous)


def _candidates(client: SentryClient, target: ReleaseTarget, environment: str) -> dict[str, JSON]:
    found: dict[str, JSON] = {}
    for project in target.projects:
        context = Context(action=f"list the releases of project {project} deployed to {environment}",
                          not_found=f"project {project!r} does not exist in organization {target.org!r}")
        reply = client.get(f"projects/{seg(target.org)}/{seg(project)}/releases/", context,
                           params={"environment": environment, "per_page": CANDIDATES})
        for item in reply.data if isinstance(reply.data, list) else []:
            if isinstance(item, dict) and item.get("version"):
                found.setdefault(str(item["version"]), item)
    return found


def _rank_by_deploy_time(client: SentryClient, target: ReleaseTarget, environment: str,
                         candidates: dict[str, JSON]) -> list[Deployed]:
    """Releases newest deploy to `environment` first; looks deploys up only while it can matter."""
    exact: list[tuple[datetime, Deployed]] = []
    pending: list[tuple[datetime, JSON]] = []
    for item in candidates.values():
        last = item.get("lastDeploy") if isinstance(item.get("lastDeploy"), dict) else None
        when = _when(last)
        if last is not None and last.get("environment") == environment:
            exact.append((when, _deployed(item, last)))
        else:
            pending.append((when, item))   # its deploy to `environment` is no newer than `when`
    pending.sort(key=lambda pair: pair[0], reverse=True)
    for bound, item in pending:
        if sum(when >= bound for when, _ in exact) >= 2:
            break  # nothing further down can be the newest deploy or the one before it
        deploy = next((d for d in release_deploys(client, target, str(item["version"]))
                       if d.get("environment") == environment), None)
        if deploy is not None:
            exact.append((_when(deploy), _deployed(item, deploy)))
    exact.sort(key=lambda pair: pair[0], reverse=True)
    return [deployed for _, deployed in exact]


def _when(deploy: Optional[dict[str, Any]]) -> datetime:
    if not deploy:
        return _EPOCH
    return parse_iso(str(deploy.get("dateFinished") or deploy.get("dateStarted") or "")) or _EPOCH


def _deployed(item: JSON, deploy: JSON) -> Deployed:
    last_commit = item.get("lastCommit") if isinstance(item.get("lastCommit"), dict) else {}
    return Deployed(version=str(item["version"]), ref=item.get("ref") or None,
                    last_commit=(last_commit or {}).get("id"),
                    deployed_at=deploy.get("dateFinished") or deploy.get("dateStarted"),
                    deploy_id=str(deploy["id"]) if deploy.get("id") else None)


def describe_previous(history: History) -> str:
    """Why a range starts where it does, for the log and the plan."""
    if not history.known:
        return f"dry run without the server: {history.environment}'s deploys are unknown"
    previous = history.previous
    if previous is None:
        return f"no earlier release was deployed to {history.environment}"
    which = "newest deploy" if history.newest is previous else "deploy before this release"
    return f"since {previous.version}, {history.environment}'s {which} ({human_utc(previous.deployed_at)})"

