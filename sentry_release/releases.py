"""A release in Sentry: create it, update it, upload its commit list, read what it holds.

Each function is one named step of a command and returns what Sentry answered; none keeps state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence

from sentry_release.errors import ApiError, ConfigError, ConnectionFailed
from sentry_release.sentry import Context, SentryClient, seg

Log = Callable[[str], None]
JSON = dict[str, Any]

# Sentry stores commits one by one: a self-hosted 23.7.1 here took 30 s for 1,000 commits.
SECONDS_PER_COMMIT = 0.05
POLL_SECONDS = 5.0


@dataclass(frozen=True)
class ReleaseTarget:
    org: str
    projects: tuple[str, ...]
    version: str
    url: str

    @property
    def path(self) -> str:
        return f"organizations/{seg(self.org)}/releases/{seg(self.version)}/"

    @property
    def web_url(self) -> str:
        return f"{self.url.rstrip('/')}/organizations/{seg(self.org)}/releases/{seg(self.version)}/"

    def context(self, action: str, scope: str = "project:releases") -> Context:
        return Context(
            action=f"{action} release {self.version} in organization {self.org}",
            not_found=f"release {self.version!r} does not exist in organization {self.org!r}, "
                      "or the token cannot see its projects",
            scope=scope,
        )


@dataclass(frozen=True)
class Release:
    """What Sentry holds for a release, from a create (201/208) or details answer."""

    created: bool                 # False: it existed already (208)
    ref: Optional[str]            # the commit it was built from, as recorded at creation
    date_released: Optional[str]
    commit_count: int
    deploy_count: Optional[int]   # None when unknown (a dry run)
    last_deploy: Optional[JSON]

    @classmethod
    def from_answer(cls, data: Any, created: bool) -> "Release":
        data = data if isinstance(data, dict) else {}
        deploy = data.get("lastDeploy")
        count = data.get("deployCount")
        return cls(created=created, ref=data.get("ref") or None, date_released=data.get("dateReleased"),
                   commit_count=int(data.get("commitCount") or 0),
                   deploy_count=int(count) if isinstance(count, int) else None,
                   last_deploy=deploy if isinstance(deploy, dict) else None)


def require_target(org: Optional[str], projects: Sequence[str], version: str, url: str) -> ReleaseTarget:
    if not org:
        raise ConfigError("no organization: pass --org, set SENTRY_ORG, or use an org auth token")
    if not projects:
        raise ConfigError("no project: pass --project/-p, set SENTRY_PROJECT, or set projects in pyproject.toml "
                          "(or in the environment's section)")
    return ReleaseTarget(org, tuple(projects), version, url)


def project_values(projects: Sequence[str]) -> list[Any]:
    # Sentry matches integers against ids and strings against slugs; "42" would never match id 42.
    return [int(p) if p.isdigit() else p for p in projects]


def create_release(client: SentryClient, target: ReleaseTarget, extra: JSON) -> Release:
    """Create the release, or find it (208): Sentry answers with what it holds either way."""
    body: JSON = {"version": target.version, "projects": project_values(target.projects), **extra}
    context = Context(
        action=f"create release {target.version} in organization {target.org}",
        not_found=f"organization {target.org!r} does not exist (check --org / SENTRY_ORG)",
    )
    try:
        reply = client.request("POST", f"organizations/{seg(target.org)}/releases/", context, json=body)
    except ApiError as exc:
        if exc.status == 400 and "invalid project" in str(exc).lower():
            raise ApiError(f"project {', '.join(target.projects)} does not exist in organization {target.org!r} "
                           "or the token cannot access it (check --project / SENTRY_PROJECT)", 400) from None
        raise
    return Release.from_answer(reply.data, created=reply.status != 208)


def update_release(client: SentryClient, target: ReleaseTarget, body: JSON, action: str) -> JSON:
    reply = client.request("PUT", target.path, target.context(action), json=body)
    return reply.data if isinstance(reply.data, dict) else {}


def stored_commit_list(client: SentryClient, target: ReleaseTarget) -> list[JSON]:
    """The commits Sentry holds for the release, newest first."""
    if not client.can_read:
        return []
    return [c for c in client.paginate(target.path + "commits/", target.context("read the commits of"))
            if isinstance(c, dict) and c.get("id")]


def as_upload(stored: JSON, repository: str) -> JSON:
    """A commit Sentry already holds, in the form an upload takes (its files stay stored)."""
    author: JSON = stored["author"] if isinstance(stored.get("author"), dict) else {}
    commit: JSON = {"id": stored["id"], "repository": repository} if repository else {"id": stored["id"]}
    for key, value in (("author_name", author.get("name")), ("author_email", author.get("email")),
                       ("message", stored.get("message"))):
        if value:
            commit[key] = value
    # Sentry 23.7.1 answers 500 when some commits of one upload carry a timestamp and others do not
    commit["timestamp"] = stored.get("dateCreated")
    return commit


def upload_commits(client: SentryClient, target: ReleaseTarget, commits: list[JSON], log: Log) -> JSON:
    """Send the whole commit list in one PUT with a read timeout that grows with it; never re-send it blindly.

    Sentry replaces a release's list on every upload, so the list goes in one request. A re-send after a
    read timeout would queue behind the lock the first request still holds (409 "being processed") and
    store everything again, so the release is watched instead.
    """
    allowance = client.read_timeout + SECONDS_PER_COMMIT * len(commits)
    if len(commits) > 500:
        client.extend_budget(allowance, f"sending {len(commits):,} commits, which Sentry stores one by one")
    context = target.context("set the commits of")
    try:
        reply = client.request("PUT", target.path, context, json={"commits": commits}, read_timeout=allowance)
        return reply.data if isinstance(reply.data, dict) else {}
    except ConnectionFailed as exc:
        if not exc.timed_out:
            raise
    client.extend_budget(allowance, f"no answer within {allowance:.0f} s; watching the release until Sentry "
                                    "has stored the commits")
    return _wait_for_commits(client, target, {commit["id"] for commit in commits}, allowance)


def _wait_for_commits(client: SentryClient, target: ReleaseTarget, sent: set[str], allowance: float) -> JSON:
    context = target.context("set the commits of")
    deadline = time.monotonic() + allowance
    while time.monotonic() < deadline:
        client.sleep(min(POLL_SECONDS, max(0.2, allowance / 10)))
        data = client.get(target.path, context).data or {}
        if data.get("commitCount") and (data.get("lastCommit") or {}).get("id") in sent:
            return data if isinstance(data, dict) else {}
    raise ApiError(f"Sentry did not finish storing {len(sent)} commits within {2 * allowance:.0f} s; it may "
                   "still be working: re-run the same command later (it is safe to repeat)")


def list_repositories(client: SentryClient, target: ReleaseTarget, log: Log) -> Optional[list[JSON]]:
    """The organization's repositories, or None when the token may not list them."""
    context = Context(action=f"list the repositories of organization {target.org}",
                      not_found=f"organization {target.org!r} does not exist", scope="org:read or org:ci")
    try:
        return [r for r in client.paginate(f"organizations/{seg(target.org)}/repos/", context) if isinstance(r, dict)]
    except ApiError as exc:
        if exc.status in (403, 404):
            log(f"cannot list repositories ({exc})")
            return None
        raise


def release_deploys(client: SentryClient, target: ReleaseTarget, version: Optional[str] = None) -> Iterator[JSON]:
    """The deploys of a release (this one, or `version` in the same organization), newest first."""
    path = target.path if version is None else f"organizations/{seg(target.org)}/releases/{seg(version)}/"
    try:
        for deploy in client.paginate(path + "deploys/", target.context("list the deploys of")):
            if isinstance(deploy, dict):
                yield deploy
    except ApiError as exc:
        if client.dry_run and exc.status == 404:  # a dry run never created the release
            return
        raise
