"""The commands that talk to Sentry about a release, as named steps. A dry run takes the same steps;
the client records its writes instead of sending them.

`deploy`, in order (docs/ARCHITECTURE.md has the request budget):
  plan_commits        how commits get there: the repository integration (refs) or local history
  environment_history the release with the environment's newest deploy: where the range starts
  create_release      create it, or find it (208); its `ref` tells whether the name is this commit's
  associate           one commit list: the new range, widened by what a promotion had not received
  run the wrapped command (if any), write-back first so the app carries the name
  record_deploy       every real deploy once (rollbacks included), re-runs never
  finalize            `dateReleased` last: a failed or interrupted run leaves no released release
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from sentry_release import commits as commits_mod
from sentry_release import remotes
from sentry_release.clock import parse_timestamp, utc_now
from sentry_release.deploys import deploy_body, record_deploy
from sentry_release.environments import Deployed, History, describe_previous, environment_history
from sentry_release.errors import ApiError, GitError, NameCollision, UsageError
from sentry_release.git import Repository
from sentry_release.releases import (
    JSON, Release, ReleaseTarget, as_upload, create_release, list_repositories, require_target,
    stored_commit_list, update_release, upload_commits,
)
from sentry_release.sentry import SentryClient
from sentry_release.together import together
from sentry_release.writeback import DeploySummary, ReleaseOutputs

if TYPE_CHECKING:
    from sentry_release.config import Settings
    from sentry_release.derive import Derivation

Log = Callable[[str], None]
WriteBack = Callable[[ReleaseOutputs], Callable[[], None]]


@dataclass
class DeployResult:
    release: str
    release_url: str
    projects: tuple[str, ...]
    environment: Optional[str] = None
    commits: int = 0
    commits_source: str = ""
    previous_release: Optional[str] = None
    deploy_id: Optional[str] = None
    deploy_created: bool = False
    dry_run: bool = False
    command_exit: Optional[int] = None

    def as_json(self) -> JSON:
        return {
            "release": self.release, "release_url": self.release_url, "projects": list(self.projects),
            "environment": self.environment, "commits": self.commits, "commits_source": self.commits_source,
            "previous_release": self.previous_release, "deploy_id": self.deploy_id,
            "deploy_created": self.deploy_created, "dry_run": self.dry_run,
        }

    def outputs(self) -> ReleaseOutputs:
        deploy = (DeploySummary(self.projects, self.environment, self.commits_source, self.previous_release,
                                self.deploy_created) if self.environment else None)
        return ReleaseOutputs(self.release, self.release_url, self.commits, self.deploy_id, deploy)


@dataclass(frozen=True)
class CommitOptions:
    mode: str = "auto"                         # auto | local | skip
    remote: str = "origin"
    initial_depth: int = 20
    paths: Sequence[str] = ()
    ignore_missing: bool = False
    specs: Sequence[str] = ()                  # --commit REPO@PREV..SHA
    clear: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> CommitOptions:
        options = cls(mode=settings.commits, remote=settings.vcs_remote, initial_depth=settings.initial_depth,
                      paths=settings.paths, ignore_missing=settings.ignore_missing)
        return replace(options, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class CommitPlan:
    mode: str                                  # "refs", "local", "skip"
    refs: list[JSON] = field(default_factory=list)
    repository: Optional[str] = None           # the Sentry repository commits are filed under
    reason: str = ""


@dataclass(frozen=True)
class Association:
    count: int
    source: str


@dataclass(frozen=True)
class DeployInputs:
    command: Sequence[str] = ()
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    specs: Sequence[str] = ()              # --commit REPO@[PREV..]SHA


# -- the steps -------------------------------------------------------------------------------------

def release_target(settings: Settings, derivation: Derivation, client: SentryClient, log: Log) -> ReleaseTarget:
    org, projects = settings.org, settings.projects
    if client.dry_run and not (org and projects):
        log("dry run: no organization or project configured; the plan shows <org> / <project>")
        org, projects = org or "<org>", projects or ("<project>",)
    return require_target(org, projects, derivation.name, settings.url)


@dataclass(frozen=True)
class CommitSource:
    """What the checkout says before Sentry is asked: a final plan, or a remote to match."""

    plan: Optional[CommitPlan] = None
    remote_url: Optional[str] = None
    local_name: Optional[str] = None


def commit_source(options: CommitOptions, derivation: Derivation) -> CommitSource:
    """The local half of the decision, with every local error raised before any request."""
    if options.clear and options.specs:
        raise UsageError("--clear removes all commits; it cannot be combined with --commit")
    if options.clear:
        return CommitSource(CommitPlan("refs", refs=[], reason="clearing the release's commits"))
    if options.specs:
        return CommitSource(CommitPlan("refs", refs=[commits_mod.parse_commit_spec(s) for s in options.specs],
                                       reason="commit ranges given with --commit"))
    if options.mode == "skip":
        return CommitSource(CommitPlan("skip", reason="commit association skipped"))
    repo_dir, head = derivation.repo_dir, derivation.head_sha
    if repo_dir is None or head is None:
        if options.ignore_missing:
            return CommitSource(CommitPlan("skip", reason="no git repository here; commits skipped (--ignore-missing)"))
        raise GitError("no git repository with commits here: run inside the checkout "
                       "(without one: deploy --commits skip, or set-commits --commit REPO@SHA)")
    remote_url = Repository(repo_dir).remote_url(options.remote)
    local_name = remotes.repository_name_from_remote(remote_url) if remote_url else None
    return CommitSource(None, remote_url, local_name)


def plan_commits(client: SentryClient, target: ReleaseTarget, options: CommitOptions, source: CommitSource,
                 derivation: Derivation, log: Log) -> CommitPlan:
    """Decide how commits are associated: the repository integration's refs, or local history."""
    if source.plan is not None:
        return source.plan
    remote_url, local_name = source.remote_url, source.local_name
    if options.mode == "auto":
        if remote_url is None:
            reason = f"no git remote {options.remote!r}, so no repository integration can match"
        elif not client.can_read:
            reason = "dry run without the server: cannot list the organization's repositories"
        else:
            repos = list_repositories(client, target, log)
            match = remotes.match_repository(remote_url, repos) if repos is not None else None
            if match is not None:
                return CommitPlan("refs", refs=[{"repository": match["name"], "commit": derivation.head_sha}],
                                  repository=match["name"],
                                  reason=f"repository integration {match['name']!r} matches remote {options.remote}")
            reason = ("the organization's repositories could not be listed" if repos is None
                      else f"no repository with an integration matches {remote_url}")
            named = next((r for r in repos or [] if local_name and str(r.get("name", "")).lower() == local_name.lower()),
                         None)
            local_name = named["name"] if named else local_name
        log(f"{reason}; sending commits from local git history")
    return CommitPlan("local", repository=local_name,
                      reason="local git history" + ("" if local_name else " (no repository name found)"))


def check_identity(release: Release, derivation: Derivation, log: Log) -> None:
    """A name that already exists must belong to this commit: Sentry keeps the `ref` it was created with."""
    head = derivation.head_sha
    if release.created or not release.ref or not head or release.ref == head:
        return
    if derivation.template is None:
        log(f"warning: release {derivation.name} ({derivation.source}) was created for commit "
            f"{release.ref[:12]}, this is {head[:12]}; its commits are computed for this checkout")
        return
    raise NameCollision(
        f"release {derivation.name} already exists for commit {release.ref[:12]}, but this is commit {head[:12]}: "
        "two commits derived one name; tag this commit, or add {short_sha} or {build} to the template")


def local_commit_range(derivation: Derivation, plan: CommitPlan, options: CommitOptions,
                       base: Optional[str], log: Log) -> tuple[list[JSON], str]:
    """The commits since `base` (the previous release's head), or the newest few for a first release."""
    repo_dir, head = derivation.repo_dir, derivation.head_sha
    assert repo_dir is not None and head is not None
    if base and commits_mod.is_rollback(repo_dir, head, base):
        return [], f"{head[:12]} is an ancestor of the previous release's {base[:12]} (a rollback)"
    found = commits_mod.collect_local_commits(
        repo_dir, previous=base, repository=plan.repository or "", initial_depth=options.initial_depth,
        paths=options.paths, remote=options.remote, ignore_missing=options.ignore_missing, log=log,
    )
    for note in found.notes:
        log(note)
    if found.previous:
        return found.commits, f"local git history since {found.previous[:12]}"
    return found.commits, f"local git history (first release: last {options.initial_depth} commits)"


def associate(client: SentryClient, target: ReleaseTarget, plan: CommitPlan, options: CommitOptions,
              derivation: Derivation, release: Release, previous: Optional[Deployed],
              history: Optional[History], log: Log) -> Association:
    """Give the release one commit list holding everything since `previous`, never narrowing it."""
    if plan.mode == "skip":
        return Association(0, plan.reason)
    if plan.mode == "refs":
        return _send_refs(client, target, plan, release, previous, history)
    found, source = local_commit_range(derivation, plan, options, previous.head if previous else None, log)
    stored = stored_commit_list(client, target) if not release.created and release.commit_count else []
    held = {commit["id"] for commit in stored}
    new = [commit for commit in found if commit["id"] not in held]
    if not new:
        if stored:
            log("the release already holds these commits; not sending them again")
        else:
            log("no commits found in the range; the release keeps its commits")
        return Association(len(stored), source if not stored else f"already associated; {source}")
    in_range = {commit["id"] for commit in found}
    upload = found + [as_upload(commit, plan.repository or "") for commit in stored if commit["id"] not in in_range]
    if stored:
        log(f"adding {len(new)} commit(s) {history.environment if history else 'this environment'} had not "
            f"received; the release's list grows from {len(stored)} to {len(upload)}")
    upload_commits(client, target, upload, log)
    return Association(len(upload), source)


def _send_refs(client: SentryClient, target: ReleaseTarget, plan: CommitPlan, release: Release,
               previous: Optional[Deployed], history: Optional[History]) -> Association:
    refs = [dict(ref) for ref in plan.refs]
    if plan.repository is not None:  # the integration's range: exactly since the environment's previous head
        for ref in refs:
            ref["previousCommit"] = previous.head if previous else None
    rerun = not release.created and release.commit_count > 0 and history is not None \
        and history.is_newest(target.version)
    if not rerun:
        data = update_release(client, target, {"refs": refs}, "set the commits of")
        count = int(data.get("commitCount") or 0)
    else:
        count = release.commit_count
    # Sentry fetches ref ranges itself, often asynchronously: report what it holds so far.
    suffix = " (Sentry fetches the commits)" if plan.repository is not None else ""
    return Association(count, plan.reason + suffix)


def created_line(client: SentryClient, target: ReleaseTarget, release: Release) -> str:
    projects = ", ".join(target.projects)
    if client.dry_run:
        return f"dry run: release {target.version} would be created (or found) for {projects}"
    return f"release {target.version} {'created' if release.created else 'exists'} for {projects}"


def finalize(client: SentryClient, target: ReleaseTarget, release: Release, when: str, log: Log) -> None:
    if release.date_released:
        return
    update_release(client, target, {"dateReleased": when}, "finalize")
    log(f"{'dry run: would finalize' if client.dry_run else 'finalized'} release {target.version}")


# -- the commands ----------------------------------------------------------------------------------

def deploy(settings: Settings, derivation: Derivation, inputs: DeployInputs, client: SentryClient,
           log: Log, write: WriteBack) -> DeployResult:
    """The whole flow. `write` performs the write-back and returns how to undo it."""
    environment = require_environment(settings)
    started = parse_timestamp(inputs.started_at, "--started-at") if inputs.started_at else None
    finished = parse_timestamp(inputs.finished_at, "--finished-at") if inputs.finished_at else None
    if started and finished and started > finished:
        raise UsageError(f"--started-at {inputs.started_at} is after --finished-at {inputs.finished_at}")
    target = release_target(settings, derivation, client, log)
    options = CommitOptions.from_settings(settings, specs=inputs.specs or None)
    result = DeployResult(target.version, target.web_url, target.projects, environment, dry_run=client.dry_run)

    source = commit_source(options, derivation)
    # three independent requests at once; a dry run keeps them in order, so its plan reads the same
    plan, history, release = together(
        lambda: plan_commits(client, target, options, source, derivation, log),
        lambda: environment_history(client, target, environment),
        lambda: create_release(client, target, {"ref": derivation.head_sha} if derivation.head_sha else {}),
        parallel=not client.dry_run)
    result.previous_release = history.previous.version if history.previous else None
    log(describe_previous(history))
    check_identity(release, derivation, log)
    log(created_line(client, target, release))
    association = associate(client, target, plan, options, derivation, release, history.previous, history, log)
    result.commits, result.commits_source = association.count, association.source
    log(f"commits: {result.commits} ({result.commits_source})")

    if inputs.command:
        undo = write(result.outputs())      # the deployed app must already carry the new release name
        if client.dry_run:
            log(f"dry run: would run {' '.join(inputs.command)}; if it succeeds:")
        else:
            from sentry_release import wrapped

            run = wrapped.run_command(inputs.command, {"SENTRY_RELEASE": target.version}, log)
            result.command_exit = run.exit_code
            if run.exit_code != 0:
                undo()
                log(f"deploy command failed with exit code {run.exit_code}: no deploy recorded, release not "
                    "finalized, env file restored")
                return result
            started, finished = started or run.started, finished or run.finished
    body = deploy_body(target, environment, name=settings.deploy_name, url=settings.deploy_url,
                       started=started, finished=finished or utc_now())
    record = record_deploy(client, target, body, release, history, log)
    result.deploy_id, result.deploy_created = record.id, record.created
    if settings.finalize:
        finalize(client, target, release, body["dateFinished"], log)
    if not inputs.command:
        write(result.outputs())
    return result


def require_environment(settings: Settings) -> str:
    if not settings.environment:
        raise UsageError("no environment: pass --environment/-e (e.g. production) or set SENTRY_ENVIRONMENT")
    return settings.environment


def set_commits(settings: Settings, derivation: Derivation, options: CommitOptions, client: SentryClient,
                log: Log) -> DeployResult:
    """`set-commits`: create the release if needed, then associate commits as `deploy` would."""
    target = require_target(settings.org, settings.projects, derivation.name, settings.url)
    result = DeployResult(target.version, target.web_url, target.projects, settings.environment,
                          dry_run=client.dry_run)
    plan = plan_commits(client, target, options, commit_source(options, derivation), derivation, log)
    release = create_release(client, target, {"ref": derivation.head_sha} if derivation.head_sha else {})
    check_identity(release, derivation, log)
    if options.clear:
        update_release(client, target, {"refs": []}, "clear the commits of")
        result.commits_source = plan.reason
        return result
    history = environment_history(client, target, settings.environment) if settings.environment else None
    previous = history.previous if history else sentry_previous(client, target, log)
    if history is not None:
        log(describe_previous(history))
    result.previous_release = previous.version if previous else None
    association = associate(client, target, plan, options, derivation, release, previous, history, log)
    result.commits, result.commits_source = association.count, association.source
    log(f"commits: {result.commits} ({result.commits_source})")
    return result


def sentry_previous(client: SentryClient, target: ReleaseTarget, log: Log) -> Optional[Deployed]:
    """Without an environment: Sentry's own previous release with commits (blind to environments)."""
    if not client.can_read:
        log("dry run without the server: assuming there is no previous release")
        return None
    try:
        data = client.get(target.path + "previous-with-commits/", target.context("find the release before")).data
    except ApiError as exc:
        if exc.status == 404:  # old servers lack the endpoint; a dry run asks before creating
            return None
        raise
    if not isinstance(data, dict) or not data.get("version"):
        return None
    log(f"since {data['version']}, Sentry's previous release with commits (pass -e to count per environment)")
    last_commit = data.get("lastCommit") if isinstance(data.get("lastCommit"), dict) else {}
    return Deployed(str(data["version"]), data.get("ref") or None, (last_commit or {}).get("id"), None)


def new_release(settings: Settings, derivation: Derivation, client: SentryClient, finalize_now: bool,
                log: Log) -> DeployResult:
    target = require_target(settings.org, settings.projects, derivation.name, settings.url)
    extra: JSON = {"ref": derivation.head_sha} if derivation.head_sha else {}
    if finalize_now:
        extra["dateReleased"] = utc_now()  # asked for: no commits or deploy to wait for
    release = create_release(client, target, extra)
    check_identity(release, derivation, log)
    if finalize_now and not release.created and not release.date_released:
        finalize(client, target, release, extra["dateReleased"], log)
    log(created_line(client, target, release))
    return DeployResult(target.version, target.web_url, target.projects, settings.environment,
                        dry_run=client.dry_run)


def finalize_release(settings: Settings, derivation: Derivation, client: SentryClient, released: Optional[str],
                     log: Log) -> DeployResult:
    target = require_target(settings.org, settings.projects or ("-",), derivation.name, settings.url)
    when = parse_timestamp(released, "--released") if released else utc_now()
    update_release(client, target, {"dateReleased": when}, "finalize")
    log(f"{'dry run: would finalize' if client.dry_run else 'finalized'} release {target.version} at {when}")
    return DeployResult(target.version, target.web_url, settings.projects, settings.environment,
                        dry_run=client.dry_run)
