"""The deploy flow as explicit steps. A dry run goes through the same steps; only writes differ.

Requests are kept to what the API needs: a fresh release with a matching repository integration
costs three requests (list repos, create with refs and dateReleased, record the deploy).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from sentry_release import commits as commits_mod
from sentry_release.errors import ApiError, ConfigError, ConnectionFailed, GitError, UsageError
from sentry_release.naming import validate_environment
from sentry_release.sentry import Context, SentryClient, backoff, seg

Log = Callable[[str], None]


@dataclass
class CommitPlan:
    mode: str                                  # "refs", "local", "skip"
    refs: list[dict[str, Any]] = field(default_factory=list)
    repository: Optional[str] = None           # Sentry repository name for local commits
    reason: str = ""


@dataclass
class ReleaseTarget:
    org: str
    projects: list[str]
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


@dataclass
class DeployResult:
    release: str
    release_url: str
    projects: list[str]
    environment: Optional[str] = None
    commits: int = 0
    commits_source: str = ""
    deploy_id: Optional[str] = None
    deploy_created: bool = False
    dry_run: bool = False
    command_exit: Optional[int] = None

    def as_json(self) -> dict[str, Any]:
        return {
            "release": self.release, "release_url": self.release_url, "projects": self.projects,
            "environment": self.environment, "commits": self.commits, "commits_source": self.commits_source,
            "deploy_id": self.deploy_id, "deploy_created": self.deploy_created, "dry_run": self.dry_run,
        }


@dataclass
class CommitOptions:
    mode: str = "auto"                         # auto | local | skip
    remote: str = "origin"
    initial_depth: int = 20
    paths: Sequence[str] = ()
    ignore_missing: bool = False
    specs: Sequence[str] = ()                  # --commit REPO@PREV..SHA
    clear: bool = False


def require_target(org: Optional[str], projects: Sequence[str], version: str, url: str) -> ReleaseTarget:
    if not org:
        raise ConfigError("no organization: pass --org, set SENTRY_ORG, or use an org auth token")
    if not projects:
        raise ConfigError("no project: pass --project/-p, set SENTRY_PROJECT, or set projects in pyproject.toml")
    return ReleaseTarget(org, list(projects), version, url)


# -- commits ---------------------------------------------------------------------------------

def plan_commits(client: SentryClient, target: ReleaseTarget, options: CommitOptions,
                 repo_dir: Optional[Path], head_sha: Optional[str], log: Log) -> CommitPlan:
    """Decide how commits are associated, before anything is written to Sentry."""
    if options.clear and options.specs:
        raise UsageError("--clear removes all commits; it cannot be combined with --commit")
    if options.clear:
        return CommitPlan("refs", refs=[], reason="clearing the release's commits")
    if options.specs:
        return CommitPlan("refs", refs=[commits_mod.parse_commit_spec(s) for s in options.specs],
                          reason="commit ranges given with --commit")
    if options.mode == "skip":
        return CommitPlan("skip", reason="commit association skipped")
    if repo_dir is None or head_sha is None:
        if options.ignore_missing:
            return CommitPlan("skip", reason="no git repository here; commits skipped (--ignore-missing)")
        raise GitError("no git repository with commits here: run inside the checkout "
                       "(without one: deploy --commits skip, or set-commits --commit REPO@SHA)")
    remote_url = commits_mod.remote_url(repo_dir, options.remote)
    local_name = commits_mod.repository_name_from_remote(remote_url) if remote_url else None
    if options.mode == "auto":
        if remote_url is None:
            reason = f"no git remote {options.remote!r}, so no repository integration can match"
        elif not client.can_read:
            reason = "dry run without the server: cannot list the organization's repositories"
        else:
            repos = _list_repos(client, target, log)
            match = commits_mod.match_repository(remote_url, repos) if repos is not None else None
            if match is not None:
                ref = {"repository": match["name"], "commit": head_sha, "previousCommit": None}
                return CommitPlan("refs", refs=[ref], repository=match["name"],
                                  reason=f"repository integration {match['name']!r} matches remote {options.remote}")
            if repos is None or not client.can_read:
                reason = "the organization's repositories could not be listed"
            else:
                reason = f"no repository with an integration matches {remote_url}"
            if local_name:
                named = next((r for r in repos or [] if str(r.get("name", "")).lower() == local_name.lower()), None)
                if named:
                    local_name = named["name"]
        log(f"{reason}; sending commits from local git history")
    return CommitPlan("local", repository=local_name,
                      reason="local git history" + ("" if local_name else " (no repository name found)"))


def _list_repos(client: SentryClient, target: ReleaseTarget, log: Log) -> Optional[list[dict[str, Any]]]:
    context = Context(action=f"list the repositories of organization {target.org}",
                      not_found=f"organization {target.org!r} does not exist", scope="org:read or org:ci")
    try:
        return list(client.paginate(f"organizations/{seg(target.org)}/repos/", context))
    except ApiError as exc:
        if exc.status in (403, 404):
            log(f"cannot list repositories ({exc})")
            return None
        raise


def previous_release(client: SentryClient, target: ReleaseTarget, log: Log) -> Optional[dict[str, Any]]:
    """The previous release with commits, per Sentry; None when there is none."""
    if not client.can_read:
        log("dry run without the server: assuming there is no previous release")
        return None
    try:
        reply = client.get(target.path + "previous-with-commits/", target.context("find the release before"))
    except ApiError as exc:
        if exc.status == 404:  # old servers lack the endpoint; a dry run may ask before creating
            return None
        raise
    data = reply.data if isinstance(reply.data, dict) else {}
    return data if data.get("version") else None


def collect_local(client: SentryClient, target: ReleaseTarget, plan: CommitPlan, options: CommitOptions,
                  repo_dir: Path, head_sha: str, log: Log) -> tuple[list[dict[str, Any]], str]:
    previous = previous_release(client, target, log)
    previous_sha = ((previous or {}).get("lastCommit") or {}).get("id")
    if previous and previous.get("version") == target.version:
        if previous_sha == head_sha:
            return [], "already associated (re-run)"
        previous_sha = _base_of_own_release(client, target, repo_dir, log) or previous_sha
    if previous_sha:
        log(f"previous release {previous.get('version')} ends at {previous_sha[:12]}")
    found = commits_mod.collect_local_commits(
        repo_dir, previous=previous_sha, repository=plan.repository or "", initial_depth=options.initial_depth,
        paths=options.paths, remote=options.remote, ignore_missing=options.ignore_missing, log=log,
    )
    for note in found.notes:
        log(note)
    if found.previous:
        source = f"local git history since {found.previous[:12]}"
    else:
        source = f"local git history (first release: last {options.initial_depth} commits)"
    return found.commits, source


def _base_of_own_release(client: SentryClient, target: ReleaseTarget, repo_dir: Path, log: Log) -> Optional[str]:
    """When this release already has commits but HEAD moved, keep them: start from before its oldest."""
    stored = list(client.paginate(target.path + "commits/", target.context("read the commits of")))
    if not stored:
        return None
    oldest = stored[-1].get("id")
    result = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{oldest}^"], cwd=repo_dir,
                            capture_output=True, text=True)
    log(f"release {target.version} already has {len(stored)} commits; extending it to HEAD")
    return result.stdout.strip() or None


# -- release and deploy ----------------------------------------------------------------------

def create_release(client: SentryClient, target: ReleaseTarget, extra: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"version": target.version, "projects": _project_values(target.projects), **extra}
    context = Context(
        action=f"create release {target.version} in organization {target.org}",
        not_found=f"organization {target.org!r} does not exist (check --org / SENTRY_ORG)",
    )
    try:
        reply = client.request("POST", f"organizations/{seg(target.org)}/releases/", context, json=body)
    except ApiError as exc:
        if exc.status == 400 and "project" in str(exc).lower() and "invalid project" in str(exc).lower():
            raise ApiError(f"project {', '.join(target.projects)} does not exist in organization {target.org!r} "
                           "or the token cannot access it (check --project / SENTRY_PROJECT)", 400) from None
        raise
    return reply.data if isinstance(reply.data, dict) else {}


def _project_values(projects: Sequence[str]) -> list[Any]:
    # Sentry matches integers against ids and strings against slugs; "42" would never match id 42.
    return [int(p) if p.isdigit() else p for p in projects]


def update_release(client: SentryClient, target: ReleaseTarget, body: dict[str, Any], action: str) -> dict[str, Any]:
    if body.get("commits"):
        return _put_commits(client, target, body, log=client.log)
    reply = client.request("PUT", target.path, target.context(action), json=body)
    return reply.data if isinstance(reply.data, dict) else {}


# Sentry stores commits one by one: a self-hosted 23.7.1 here took 30 s for 1,000 commits.
SECONDS_PER_COMMIT = 0.05
POLL_SECONDS = 5.0


def _put_commits(client: SentryClient, target: ReleaseTarget, body: dict[str, Any], log: Log) -> dict[str, Any]:
    """Send the commit list with a read timeout that grows with it; never re-send it blindly.

    A re-send after a read timeout would queue behind the lock the first request still holds
    (409 "being processed") and store everything again, so we watch the release instead.
    """
    commits = body["commits"]
    allowance = client.read_timeout + SECONDS_PER_COMMIT * len(commits)
    if len(commits) > 500:
        client.extend_budget(allowance, f"sending {len(commits):,} commits, which Sentry stores one by one")
    context = target.context("set the commits of")
    try:
        reply = client.request("PUT", target.path, context, json=body, read_timeout=allowance)
        return reply.data if isinstance(reply.data, dict) else {}
    except ConnectionFailed as exc:
        if not exc.timed_out:
            raise
    sent = {commit["id"] for commit in commits}
    client.extend_budget(allowance, f"no answer within {allowance:.0f} s; watching the release until Sentry "
                                    "has stored the commits")
    deadline = time.monotonic() + allowance
    while time.monotonic() < deadline:
        client.sleep(min(POLL_SECONDS, max(0.2, allowance / 10)))
        data = client.get(target.path, context).data or {}
        if data.get("commitCount") and (data.get("lastCommit") or {}).get("id") in sent:
            return data
    raise ApiError(f"Sentry did not finish storing {len(commits)} commits within {2 * allowance:.0f} s; it may "
                   "still be working: re-run the same command later (it is safe to repeat)")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str, flag: str) -> str:
    """Unix seconds or ISO-8601, as Sentry's ISO-8601 in UTC."""
    text = text.strip()
    try:
        moment = datetime.fromtimestamp(float(text), tz=timezone.utc)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"{flag} {text!r} is not a time: use unix seconds or ISO-8601 "
                             "(2024-01-16T10:00:00Z)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _same_deploy(deploy: Any, environment: str, name: Optional[str]) -> bool:
    return (isinstance(deploy, dict) and deploy.get("environment") == environment
            and (deploy.get("name") or None) == (name or None))


def find_deploy(client: SentryClient, target: ReleaseTarget, environment: str,
                name: Optional[str]) -> Optional[dict[str, Any]]:
    if not client.can_read:
        return None
    deploys = client.paginate(target.path + "deploys/", target.context("list the deploys of"))
    try:
        return next((d for d in deploys if _same_deploy(d, environment, name)), None)
    except ApiError as exc:
        if client.dry_run and exc.status == 404:  # a dry run never created the release
            return None
        raise


def record_deploy(client: SentryClient, target: ReleaseTarget, body: dict[str, Any],
                  release_data: dict[str, Any], log: Log) -> tuple[Optional[dict[str, Any]], bool]:
    """Post the deploy unless this job already recorded it. Returns (deploy, created)."""
    environment, name = body["environment"], body.get("name")
    if _same_deploy(release_data.get("lastDeploy"), environment, name):
        existing: Optional[dict[str, Any]] = release_data["lastDeploy"]
    elif release_data.get("deployCount") == 0:
        existing = None            # the release has no deploys at all: nothing to look for
    else:
        existing = find_deploy(client, target, environment, name)
    if existing:
        log(f"deploy {name or '(unnamed)'} to {environment} is already recorded (id {existing.get('id')}); not adding another")
        return existing, False
    # A lost answer to a POST may still have created the deploy: look again before each re-send.
    for attempt in range(client.max_retries + 1):
        try:
            reply = client.request("POST", target.path + "deploys/", target.context("record a deploy of"),
                                   json=body, retry=False)
            return (reply.data if isinstance(reply.data, dict) else None), True
        except ApiError as exc:
            if not exc.retryable or attempt == client.max_retries:
                raise
            delay = backoff(attempt)
            log(f"recording the deploy failed ({exc}); checking and retrying in {delay:.1f} s")
            client.sleep(delay)
            existing = find_deploy(client, target, environment, name)
            if existing:
                return existing, False
    raise AssertionError("unreachable")


def run_command(command: Sequence[str], extra_env: dict[str, str], log: Log) -> tuple[int, str, str]:
    """Run the wrapped deploy command; return (exit code as a shell reports it, started, finished).

    SIGINT and SIGTERM sent to us are passed on, so a cancelled CI job does not orphan the deploy.
    """
    import os
    import signal

    started = utc_now()
    log(f"running: {' '.join(command)}")
    begin = time.monotonic()
    try:
        child = subprocess.Popen(list(command), env={**os.environ, **extra_env})
    except OSError as exc:
        raise UsageError(f"cannot run {command[0]!r}: {exc.strerror}") from None
    forwarded = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda number, frame: child.send_signal(number)) for sig in forwarded}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code < 0:
        log(f"command killed by {signal.Signals(-code).name} after {time.monotonic() - begin:.1f} s")
        code = 128 - code
    else:
        log(f"command exited with {code} after {time.monotonic() - begin:.1f} s")
    return code, started, utc_now()


def validated_environment(environment: Optional[str]) -> str:
    if not environment:
        raise UsageError("no environment: pass --environment/-e (e.g. production) or set SENTRY_ENVIRONMENT")
    return validate_environment(environment)


# -- the whole flow ----------------------------------------------------------------------------

@dataclass
class DeployInputs:
    environment: Optional[str]
    deploy_name: Optional[str] = None
    deploy_url: Optional[str] = None
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    command: Sequence[str] = ()


def commit_options(settings: Any, **overrides: Any) -> CommitOptions:
    options = CommitOptions(mode=settings.commits, remote=settings.vcs_remote, initial_depth=settings.initial_depth,
                            paths=tuple(settings.paths), ignore_missing=settings.ignore_missing)
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


def associate(client: SentryClient, target: ReleaseTarget, plan: CommitPlan, options: CommitOptions,
              derivation: Any, release_body: dict[str, Any], log: Log, stored: Optional[dict[str, Any]] = None,
              ) -> tuple[int, str]:
    """Send local commits (the refs already went with the create). Returns (count, description)."""
    if plan.mode == "refs":
        # Sentry fetches ref ranges itself, often asynchronously: report what it holds so far.
        return int((stored or {}).get("commitCount") or 0), plan.reason + " (Sentry fetches the commits)"
    if plan.mode == "skip":
        return 0, plan.reason
    found, source = collect_local(client, target, plan, options, derivation.repo_dir, derivation.head_sha, log)
    if found:
        release_body["commits"] = found
    elif source.startswith("already"):
        log("the release already holds these commits; not sending them again")
    else:
        log("no commits found in the range; the release keeps its commits")
    return len(found), source


def deploy(settings: Any, derivation: Any, inputs: DeployInputs, client: SentryClient, log: Log,
           write: Callable[[DeployResult], Callable[[], None]]) -> DeployResult:
    """The whole flow. `write` performs the write-back and returns how to undo it."""
    environment = validated_environment(inputs.environment)
    org, projects = settings.org, list(settings.projects)
    if client.dry_run and not (org and projects):
        log("dry run: no organization or project configured; the plan shows <org> / <project>")
        org, projects = org or "<org>", projects or ["<project>"]
    target = require_target(org, projects, derivation.name, settings.url)
    options = commit_options(settings)
    started = parse_timestamp(inputs.started_at, "--started-at") if inputs.started_at else None
    finished = parse_timestamp(inputs.finished_at, "--finished-at") if inputs.finished_at else None
    if started and finished and started > finished:
        raise UsageError(f"--started-at {inputs.started_at} is after --finished-at {inputs.finished_at}")
    result = DeployResult(target.version, target.web_url, target.projects, environment, dry_run=client.dry_run)

    plan = plan_commits(client, target, options, derivation.repo_dir, derivation.head_sha, log)
    finalize_now = settings.finalize and not inputs.command
    create_extra: dict[str, Any] = {"refs": plan.refs} if plan.mode == "refs" else {}
    if finalize_now:
        create_extra["dateReleased"] = utc_now()
    release_data = create_release(client, target, create_extra)
    log(f"release {target.version} ready for {', '.join(target.projects)}")

    update: dict[str, Any] = {}
    result.commits, result.commits_source = associate(client, target, plan, options, derivation, update, log,
                                                      release_data)
    if finalize_now and release_data and not release_data.get("dateReleased"):
        update["dateReleased"] = create_extra["dateReleased"]
    if update:
        release_data = update_release(client, target, update, "update") or release_data
    log(f"commits: {result.commits} ({result.commits_source})")

    if inputs.command:
        undo = write(result)      # the deployed app must already carry the new release name
        if client.dry_run:
            log(f"dry run: would run {' '.join(inputs.command)}; if it succeeds:")
        else:
            code, started, finished = run_command(inputs.command, {"SENTRY_RELEASE": target.version}, log)
            result.command_exit = code
            if code != 0:
                undo()
                log(f"deploy command failed with exit code {code}: no deploy recorded, release not finalized, "
                    "env file restored")
                return result
        if settings.finalize:
            when = finished or utc_now()
            release_data = update_release(client, target, {"dateReleased": when}, "finalize") or release_data
    body: dict[str, Any] = {"environment": environment, "dateFinished": finished or utc_now(),
                            "projects": _project_values(target.projects)}
    for key, value in (("name", inputs.deploy_name), ("url", inputs.deploy_url), ("dateStarted", started)):
        if value:
            body[key] = value
    deploy_data, result.deploy_created = record_deploy(client, target, body, release_data, log)
    result.deploy_id = str((deploy_data or {}).get("id")) if deploy_data and deploy_data.get("id") else None
    if not inputs.command:
        write(result)
    return result


def set_commits(settings: Any, derivation: Any, options: CommitOptions, client: SentryClient, log: Log) -> DeployResult:
    """`set-commits`: upsert the release, then associate commits as `deploy` would."""
    target = require_target(settings.org, settings.projects, derivation.name, settings.url)
    result = DeployResult(target.version, target.web_url, target.projects, dry_run=client.dry_run)
    plan = plan_commits(client, target, options, derivation.repo_dir, derivation.head_sha, log)
    if options.clear:
        create_release(client, target, {})
        update_release(client, target, {"refs": []}, "clear the commits of")
        result.commits_source = plan.reason
        return result
    created = create_release(client, target, {"refs": plan.refs} if plan.mode == "refs" else {})
    update: dict[str, Any] = {}
    result.commits, result.commits_source = associate(client, target, plan, options, derivation, update, log,
                                                      created)
    if update:
        update_release(client, target, update, "set the commits of")
    log(f"commits: {result.commits} ({result.commits_source})")
    return result


def new_release(settings: Any, derivation: Any, client: SentryClient, finalize: bool, log: Log) -> DeployResult:
    target = require_target(settings.org, settings.projects, derivation.name, settings.url)
    data = create_release(client, target, {"dateReleased": utc_now()} if finalize else {})
    if finalize and data and not data.get("dateReleased"):
        update_release(client, target, {"dateReleased": utc_now()}, "finalize")
    log(f"release {target.version} ready for {', '.join(target.projects)}")
    return DeployResult(target.version, target.web_url, target.projects, dry_run=client.dry_run)


def finalize_release(settings: Any, derivation: Any, client: SentryClient, released: Optional[str],
                     log: Log) -> DeployResult:
    target = require_target(settings.org, settings.projects or ["-"], derivation.name, settings.url)
    when = parse_timestamp(released, "--released") if released else utc_now()
    update_release(client, target, {"dateReleased": when}, "finalize")
    log(f"finalized release {target.version} at {when}")
    return DeployResult(target.version, target.web_url, list(settings.projects), dry_run=client.dry_run)
