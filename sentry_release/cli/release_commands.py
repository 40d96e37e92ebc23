"""The commands about a release: version, config, export, deploy and its single steps."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Callable, Optional

import click

from sentry_release.cli.base import (
    cli, commit_options, common_options, derive, gate_options, make_client, naming_options, parsed_by, start, writeback_options,
)
from sentry_release.output import Output

if TYPE_CHECKING:
    from sentry_release.config import Settings
    from sentry_release.derive import Derivation
    from sentry_release.pipeline import DeployResult
    from sentry_release.sentry import SentryClient
    from sentry_release.writeback import ReleaseOutputs, Target


@cli.command(short_help="Print the release name (no network).")
@common_options
@naming_options
def version(**params: Any) -> None:
    """Print the release name this checkout gets (no network).

    The same commit gets the same name in every job, re-run and clone. With --json, also
    where each part of the name came from.
    """
    out, settings = start(params)
    derivation = derive(settings, out)
    if params["as_json"]:
        out.result(json.dumps({
            "release": derivation.name, "source": derivation.source, "template": derivation.template,
            "parts": {k: {"value": p.value, "source": p.source} for k, p in derivation.parts.items()},
            "settings": settings.describe(),
        }, indent=2))
    else:
        out.result(derivation.name)


@cli.command("config", short_help="Show each setting and where it came from.")
@common_options
@naming_options
@writeback_options
def config_cmd(**params: Any) -> None:
    """Show every effective setting and where it came from (token masked).

    With -e, the settings that environment's section gives.
    """
    out, settings = start(params)
    described = settings.describe()
    if params["as_json"]:
        out.result(json.dumps({"pyproject": str(settings.pyproject) if settings.pyproject else None,
                               "environments": list(settings.known_environments),
                               "settings": described, "warnings": list(settings.warnings)}, indent=2))
        return
    width = max(len(name) for name in described)
    for name, item in described.items():
        out.result(f"{name:<{width}}  {json.dumps(item['value'])}  ({item['source']})")
    known = ", ".join(settings.known_environments) or "none (no [tool.sentry-release.environments.*] sections)"
    out.result(f"{'environments':<{width}}  {known}")


# -- write-back ----------------------------------------------------------------------------------

def write_back(settings: Settings, out: Output, dry_run: bool) -> Callable[[ReleaseOutputs], Callable[[], None]]:
    """The write-back a command performs, or in a dry run the line that says what it would write."""
    from sentry_release import writeback

    targets = writeback.targets_for(settings)
    keys = ", ".join(settings.env_keys)

    def write(outputs: ReleaseOutputs) -> Callable[[], None]:
        if not targets:
            out.log("no write-back target: pass --env-file, or run in GitHub Actions or GitLab CI")
            return lambda: None
        if dry_run:
            out.log(f"dry run: would write {keys}={outputs.release} to {writeback.describe_targets(targets)}")
            return lambda: None
        return writeback.write_release(targets, settings.env_keys, outputs, out.log)

    return write


def preflight_write_back(settings: Settings) -> list[Target]:
    from sentry_release import writeback

    targets = writeback.targets_for(settings)
    writeback.check_targets(targets)
    return targets


@cli.command(short_help="Write the release name into .env / CI files.")
@common_options
@naming_options
@writeback_options
@click.option("--format", "fmt", type=click.Choice(["shell", "json", "dotenv"]),
              help="Also print the values on stdout in this format.")
def export(fmt: Optional[str], **params: Any) -> None:
    """Write the release name into the deploy environment (no network).

    \b
    --env-file .env        update RELEASE=<name> in place (atomic; other lines untouched)
    GitHub Actions         RELEASE to $GITHUB_ENV, output `release` to $GITHUB_OUTPUT
    GitLab CI              RELEASE=<name> to the dotenv report (--dotenv)
    --format shell|json|dotenv   print to stdout, e.g. eval "$(sentry-release export --format shell)"
    """
    from sentry_release import writeback

    out, settings = start(params)
    targets = preflight_write_back(settings)
    derivation = derive(settings, out)
    write_back(settings, out, dry_run=False)(writeback.ReleaseOutputs(derivation.name))
    if fmt:
        out.result(writeback.render_values({k: derivation.name for k in settings.env_keys}, fmt).rstrip("\n"))
    elif not any(target.kind in ("env-file", "gitlab-dotenv") for target in targets):
        out.result(derivation.name)


# -- deploy --------------------------------------------------------------------------------------

@cli.command(short_help="The whole flow: create, commits, deploy, finalize, write back.")
@common_options
@naming_options
@click.option("--commits", type=click.Choice(["auto", "local", "skip"]),
              help="auto: refs through the repository integration, else local history (default).")
@click.option("--commit", "-c", "specs", multiple=True, metavar="REPO@[PREV..]SHA",
              help="Explicit ref range instead, as in set-commits and sentry-cli; repeatable.")
@commit_options
@click.option("--finalize/--no-finalize", default=None, help="Set the release's date released [default: yes].")
@click.option("--deploy-name", help="Deploy name [default: the CI run id]. Re-runs with the same name add no deploy.")
@click.option("--deploy-url", help="Deploy URL [default: the CI environment or run URL].")
@click.option("--started-at", help="Deploy start (unix seconds or ISO-8601).")
@click.option("--finished-at", help="Deploy end (unix seconds or ISO-8601) [default: now].")
@writeback_options
@click.option("--dry-run", is_flag=True, help="Print the requests it would send; change nothing, write nothing.")
@click.option("--watch", "watch_window", metavar="DURATION", callback=parsed_by("parse_duration"),
              help="Then watch the release's health for this long, e.g. 10m (see `watch --help`); "
                   "exit 1 when it turns unhealthy.")
@gate_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def deploy(dry_run: bool, started_at: Optional[str], finished_at: Optional[str], watch_window: Optional[float],
           specs: tuple[str, ...], command: tuple[str, ...], **params: Any) -> None:
    """Create, associate commits, record the deploy, finalize, write back: all in one.

    \b
    sentry-release deploy -e production
    sentry-release deploy -e production --env-file .env --env-key RELEASE --env-key SENTRY_RELEASE
    sentry-release deploy -e staging --dry-run
    sentry-release deploy -e production -- ./deploy.sh --fast

    The commits are those since the release last deployed to this environment (a rollback
    counts; a release that was only created, whose deploy failed, or that went only to
    another environment does not). A release promoted from another environment gets what
    this one had not received added to its list.

    After `--`, the real deploy command runs with SENTRY_RELEASE set and its output on
    stderr (stdout holds only our result); the deploy is recorded and the release
    finalized only if it succeeds, and its exit code becomes ours.
    """
    from sentry_release.pipeline import DeployInputs, deploy as run_deploy

    if command:
        from sentry_release import wrapped

        wrapped.require_runnable(command)
    out, settings = start(params, network=True)
    if not dry_run:
        preflight_write_back(settings)
    with make_client(settings, out, dry_run=dry_run) as client:
        derivation = derive(settings, out)
        out.log(f"release {derivation.name} ({_explain(derivation)})")
        inputs = DeployInputs(command=command, started_at=started_at, finished_at=finished_at, specs=specs)
        result = run_deploy(settings, derivation, inputs, client, out.log, write_back(settings, out, dry_run))
        if dry_run:
            _print_plan(client, out)
    if result.command_exit:
        sys.exit(result.command_exit)
    if watch_window is None:
        _print_result(result, out, params["as_json"])
    elif dry_run:
        out.log(f"dry run: would then watch {result.release} in {result.environment} for {watch_window:.0f} s")
        _print_result(result, out, params["as_json"])
    else:
        from sentry_release.cli.judge_commands import deploy_then_watch

        sys.exit(deploy_then_watch(settings, result, watch_window, out, params["as_json"]))


def _explain(derivation: Derivation) -> str:
    if not derivation.parts:
        return f"from {derivation.source}"
    return "; ".join(f"{name} {part.value} from {part.source}" for name, part in derivation.parts.items())


def _print_plan(client: SentryClient, out: Output) -> None:
    out.log(f"dry run: {len(client.plan)} request(s) would be sent to {client.base_url}")
    for number, request in enumerate(client.plan, 1):
        body = json.dumps(request.body, indent=2) if request.body is not None else ""
        out.block(f"[{number}] {request.method} /api/0/{request.path}\n{body}")


def _print_result(result: DeployResult, out: Output, as_json: bool) -> None:
    out.result(json.dumps(result.as_json(), indent=2) if as_json else result.release)


# -- single steps: new, set-commits, finalize ------------------------------------------------------

Step = Callable[["Settings", "Derivation", "SentryClient", Callable[[str], None]], "DeployResult"]


def _run_step(params: dict[str, Any], dry_run: bool, step: Step) -> None:
    """Settings, release name and one client around a single API step; then the result."""
    out, settings = start(params, network=True)
    with make_client(settings, out, dry_run) as client:
        derivation = derive(settings, out)
        result = step(settings, derivation, client, out.log)
        if dry_run:
            _print_plan(client, out)
    _print_result(result, out, params["as_json"])


@cli.command(short_help="Create the release (idempotent).")
@common_options
@naming_options
@click.option("--finalize", "finalize_now", is_flag=True, help="Also set the date released.")
@click.option("--dry-run", is_flag=True, help="Print the request; send nothing.")
def new(finalize_now: bool, dry_run: bool, **params: Any) -> None:
    """Create the release for the configured projects (re-running is fine: 208 is success).

    The release records the commit it is built from; a name that already belongs to another
    commit is refused.
    """
    from sentry_release.pipeline import new_release

    _run_step(params, dry_run, lambda settings, derivation, client, log:
              new_release(settings, derivation, client, finalize_now, log))


@cli.command("set-commits", short_help="Associate commits with the release.")
@common_options
@naming_options
@click.option("--auto", "mode", flag_value="auto", help="Refs through the repository integration, else local (default).")
@click.option("--local", "mode", flag_value="local", help="Send commits from local git history.")
@click.option("--commit", "-c", "specs", multiple=True, metavar="REPO@[PREV..]SHA",
              help="Explicit ref range, as in sentry-cli; repeatable.")
@click.option("--clear", is_flag=True, help="Remove all commits from the release.")
@commit_options
@click.option("--dry-run", is_flag=True, help="Print the requests; send no writes.")
def set_commits_cmd(mode: Optional[str], specs: tuple[str, ...], clear: bool, dry_run: bool, **params: Any) -> None:
    """Associate commits with the release (creating it if needed).

    \b
    --auto     match the git remote to a Sentry repository integration and send refs;
               with no match, fall back to local history and say why
    --local    previous release's commit..HEAD from local git, each commit with its own
               first-parent file changes; deepens a shallow clone when needed
    --commit   acme/shop@PREV..SHA, sent as given

    With -e the range starts at that environment's newest deploy; without it, at Sentry's
    previous release with commits (blind to environments, as sentry-cli).
    """
    from sentry_release.pipeline import CommitOptions, set_commits

    def step(settings: Settings, derivation: Derivation, client: SentryClient,
             log: Callable[[str], None]) -> DeployResult:
        options = CommitOptions.from_settings(settings, specs=specs, clear=clear, mode=mode)
        return set_commits(settings, derivation, options, client, log)

    _run_step(params, dry_run, step)


@cli.command(short_help="Set the release's date released.")
@common_options
@naming_options
@click.option("--released", help="Date released (unix seconds or ISO-8601) [default: now].")
@click.option("--dry-run", is_flag=True, help="Print the request; send nothing.")
def finalize(released: Optional[str], dry_run: bool, **params: Any) -> None:
    """Mark the release as released (sets its date released)."""
    from sentry_release.pipeline import finalize_release

    _run_step(params, dry_run, lambda settings, derivation, client, log:
              finalize_release(settings, derivation, client, released, log))
