"""Command line: parse, call plain functions, print. Heavy modules are imported inside commands."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import click

from sentry_release import __version__
from sentry_release.errors import EXIT_USAGE, ConfigError, SentryReleaseError
from sentry_release.output import Output, hide, redact

if TYPE_CHECKING:
    from sentry_release.config import Settings
    from sentry_release.derive import Derivation
    from sentry_release.pipeline import DeployResult
    from sentry_release.sentry import SentryClient
    from sentry_release.watch import Verdict
    from sentry_release.writeback import ReleaseOutputs, Target

Command = Callable[..., Any]
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _options(*options: Callable[[Command], Command]) -> Callable[[Command], Command]:
    def apply(func: Command) -> Command:
        for option in reversed(options):
            func = option(func)
        return func
    return apply


def _parsed_by(parser: str) -> Callable[[click.Context, click.Parameter, Optional[str]], Any]:
    """A click callback around one of watch.py's parsers, so errors name the flag and exit 2."""

    def convert(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Any:
        from sentry_release import watch

        try:
            return None if value is None else getattr(watch, parser)(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
    return convert


gate_options = _options(
    click.option("--interval", "watch_interval", metavar="DURATION", callback=_parsed_by("parse_interval"),
                 help="Time between health polls, 1s or more [pyproject watch-interval; default 30s]."),
    click.option("--max-new-issues", "watch_max_new_issues", type=click.IntRange(min=0), metavar="N",
                 help="Fail when more new issues appear [pyproject watch-max-new-issues; default 3]."),
    click.option("--min-crash-free", "watch_min_crash_free", metavar="PERCENT", callback=_parsed_by("parse_percent"),
                 help="Fail under this crash-free sessions percentage [pyproject watch-min-crash-free; "
                      "default 99]."),
)

common_options = _options(
    click.option("--environment", "-e",
                 help="Environment, e.g. production; picks its [tool.sentry-release.environments.<name>] "
                      "section [env SENTRY_ENVIRONMENT, else the CI's environment name]."),
    click.option("--org", "-o", help="Organization slug [env SENTRY_ORG]."),
    click.option("--project", "-p", "projects", multiple=True,
                 help="Project slug; repeat for several [env SENTRY_PROJECT, comma-separated]."),
    click.option("--url", help="Sentry server URL [env SENTRY_URL; default https://sentry.io]."),
    click.option("--auth-token", help="Auth token [env SENTRY_AUTH_TOKEN]; prefer the environment."),
    click.option("--json", "as_json", is_flag=True, help="Print a JSON result on stdout."),
    click.option("--quiet", "-q", is_flag=True, help="Print only the result."),
    click.option("--verbose", "-v", is_flag=True, help="Also print each HTTP request and its status."),
)

naming_options = _options(
    click.option("--release", "-r", help="Use this release name as given [env SENTRY_RELEASE]."),
    click.option("--release-prefix", help="Text put before the release name, e.g. 'shop@'."),
    click.option("--template", help="Name template; placeholders {version} {date} {sha} {short_sha} "
                 "{branch} {build} {package} [default v{version}-{date}]."),
    click.option("--base-version", help="The {version} to use, instead of tags or project files."),
    click.option("--version-source", type=click.Choice(["auto", "tag", "pyproject", "setup.cfg",
                 "package.json", "version"]), help="Where {version} comes from [default: first found]."),
    click.option("--date-source", type=click.Choice(["commit", "now", "pipeline"]),
                 help="{date}: HEAD commit date in UTC (default), today, or the CI pipeline's start."),
    click.option("--no-fetch", "fetch", flag_value=False, default=None,
                 help="Never fetch tags or history from the remote in a shallow clone."),
)

writeback_options = _options(
    click.option("--env-file", help="Write the release name into this .env file (created if missing)."),
    click.option("--env-key", "env_keys", multiple=True,
                 help="Key to write; repeat for several [default RELEASE]; e.g. SENTRY_RELEASE."),
    click.option("--dotenv", help="GitLab dotenv report to write [default sentry-release.env in GitLab CI]."),
)

commit_options = _options(
    click.option("--ignore-missing", is_flag=True, default=None,
                 help="If the previous release's commit is not in history, fall back instead of failing."),
    click.option("--initial-depth", type=int, help="Commits to send for a first release [default 20]."),
    click.option("--path", "paths", multiple=True, help="Only commits touching this path (monorepos); repeatable."),
)

_OUTPUT_PARAMS = ("as_json", "quiet", "verbose")


def load_settings(params: dict[str, Any]) -> Settings:
    """The one place a command's settings are built: flags, environment, CI, files, token."""
    from sentry_release.config import resolve_settings

    flags = {name: value for name, value in params.items() if name not in _OUTPUT_PARAMS}
    settings = resolve_settings(flags, os.environ, Path.cwd())
    if settings.auth_token:
        hide(settings.auth_token)
    return settings


def make_output(params: dict[str, Any]) -> Output:
    return Output(quiet=bool(params.get("quiet")), verbose=bool(params.get("verbose")))


def start(params: dict[str, Any], *, network: bool = False) -> tuple[Output, Settings]:
    """Output and settings for a command; its warnings logged once."""
    if network:
        from sentry_release.sentry import preload

        preload()  # httpx loads on another thread while git runs
    out = make_output(params)
    settings = load_settings(params)
    for warning in settings.warnings:
        out.log(f"warning: {warning}")
    return out, settings


def derive(settings: Settings, out: Output) -> Derivation:
    from sentry_release.derive import derive_release

    return derive_release(settings, Path.cwd(), os.environ, out.log)


def make_client(settings: Settings, out: Output, dry_run: bool = False) -> SentryClient:
    from sentry_release.sentry import SentryClient

    if not dry_run and not settings.auth_token:
        raise ConfigError("no auth token: set SENTRY_AUTH_TOKEN or pass --auth-token (or --dry-run to see the plan)")
    return SentryClient(settings.url, settings.auth_token, timeout=settings.timeout, max_retries=settings.max_retries,
                        ca_bundle=settings.ca_bundle, log=out.log, debug=out.debug, dry_run=dry_run,
                        pipeline=settings.pipeline)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", "-V", prog_name="sentry-release")
def cli() -> None:
    """Create Sentry releases at deploy time.

    \b
    One command in a deploy job:
      sentry-release deploy -e production
    derives the release name (v{version}-{date}, e.g. v1.0.0-20240116), creates the
    release, associates the commits since production's last deploy, records the deploy,
    finalizes it and writes RELEASE=<name> back into your .env / $GITHUB_ENV / GitLab
    dotenv report.

    \b
    Try it safely, without a Sentry account:
      sentry-release deploy -e staging --dry-run

    Settings come from flags, then SENTRY_* variables, then [tool.sentry-release] in
    pyproject.toml (and its environments.<name> section for -e); `sentry-release config`
    shows each value and where it came from. Exit codes: 0 success, 1 operational
    failure, 2 invalid input.
    """


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
@click.option("--watch", "watch_window", metavar="DURATION", callback=_parsed_by("parse_duration"),
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
    from sentry_release import wrapped
    from sentry_release.pipeline import DeployInputs, deploy as run_deploy

    if command:
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
        sys.exit(_deploy_then_watch(settings, result, watch_window, out, params["as_json"]))


def _deploy_then_watch(settings: Settings, result: DeployResult, window: float, out: Output, as_json: bool) -> int:
    """`deploy --watch`: the verdict's lines on stderr; stdout keeps one result (the name, or one object)."""
    from sentry_release import watch as watching

    options = watching.options_from(settings, settings.environment, window)
    verdict = watching.run(settings, result.release, options, out.log, out.debug)
    _report_verdict(verdict, settings, out, as_json=False, lines_to=out.block)
    if as_json:
        out.result(json.dumps({**result.as_json(), "watch": verdict.as_json()}, indent=2))
    else:
        out.result(result.release)
    return verdict.exit_code


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


# -- check (production checklist) ------------------------------------------------------------------

@cli.command(short_help="Production checklist: token, projects, DSN, rates, release.")
@common_options
@naming_options
@click.option("--env-file", help="The app's .env file [default: env-file in pyproject.toml, else ./.env]; its "
                                 "values win over the process environment.")
@click.option("--send-test-event", is_flag=True, help="Also send one test error event to the DSN.")
@click.option("--fix", is_flag=True, help="Apply the mechanical fixes to the .env (atomically, every other "
              "byte kept) and say what changed: inline comments moved to their own line, a stale or missing "
              "RELEASE, the DSN of the wrong project or key.")
def check(env_file: Optional[str], send_test_event: bool, fix: bool, **params: Any) -> None:
    """Run the production checklist: token, org/projects, repository, DSN, environment, sample rates.

    \b
    sentry-release check -e production --env-file .env
    sentry-release check --env-file .env --send-test-event
    sentry-release check -e staging --env-file .env.staging --fix

    Also checks that the DSN is an active key of the environment's own project, that RELEASE in
    the .env is this checkout's release and exists in Sentry, that DEBUG is off in production
    (production-environments in pyproject.toml, default ["production"]), and that the app's .env
    reader (env-reader, else found in the requirements, else all three of python-dotenv,
    python-decouple and django-environ) reads every Sentry value as written.
    -q prints only failures and warnings. Exit code 1 when any item fails.
    """
    from sentry_release.check import CheckOptions, environment_to_check, run_check
    from sentry_release.errors import UsageError

    out, settings = start(params, network=True)
    options = CheckOptions(settings.environment, env_file, send_test_event, fix, bool(params["as_json"]),
                           bool(params["quiet"]))
    target = environment_to_check(options, settings, Path.cwd(), os.environ)
    if target and target != settings.environment:
        try:  # the pyproject section of the app's own ENVIRONMENT
            settings = load_settings({**params, "environment": target})
        except UsageError:
            pass  # an ENVIRONMENT Sentry would refuse, or one without a section: the checklist reports it
    sys.exit(run_check(settings, options, out))


# -- watch (post-deploy gate) -----------------------------------------------------------------

@cli.command(short_help="Post-deploy gate: watch the release's health, fail when it turns bad.")
@common_options
@naming_options
@click.option("--for", "window", required=True, metavar="DURATION", callback=_parsed_by("parse_duration"),
              help="How long to watch, e.g. 90s, 10m.")
@gate_options
@click.option("--env-file", help="The .env deploy wrote; its RELEASE is the release watched when --release is not "
                                 "given.")
def watch(window: float, **params: Any) -> None:
    """Watch a deployed release and fail (exit 1) as soon as it turns unhealthy.

    \b
    sentry-release watch -e production --for 10m
    sentry-release watch -e production --for 10m --max-new-issues 0 --min-crash-free 99.5

    Polls the release in that environment's projects: new issues first seen in this release
    since its deploy, and crash-free sessions when the app sends sessions. One line per poll;
    the verdict names the threshold crossed, the value measured, the new issues and the release
    link. What cannot be read (no sessions, a token without event:read) is said once and never
    fails the gate.

    \b
    Per environment, in pyproject.toml:
      [tool.sentry-release.environments.production]
      watch-max-new-issues = 0
      watch-min-crash-free = 99.5
      watch-interval = "30s"
    Exit codes: 0 healthy window, 1 unhealthy, 2 invalid input, 130 interrupted.
    """
    from sentry_release import watch as watching

    out, settings = start(params, network=True)
    release = watching.choose_release(settings, Path.cwd(), os.environ, out.log)
    sys.exit(_watch(settings, release, window, out, params["as_json"]))


def _watch(settings: Settings, release: str, window: float, out: Output, as_json: bool) -> int:
    """Run the gate on `release` and report its verdict; the exit code it asks for."""
    from sentry_release import watch as watching

    options = watching.options_from(settings, settings.environment, window)
    verdict = watching.run(settings, release, options, out.log, out.debug)
    _report_verdict(verdict, settings, out, as_json)
    return verdict.exit_code


def _report_verdict(verdict: Verdict, settings: Settings, out: Output, as_json: bool,
                    lines_to: Optional[Callable[[str], None]] = None) -> None:
    from sentry_release import writeback

    if settings.ci.github_output:
        writeback.write_github_output(Path(settings.ci.github_output),
                                      {"healthy": "true" if verdict.healthy else "false"})
    if settings.ci.github_summary:
        writeback.append_github_summary(Path(settings.ci.github_summary),
                                        f"**Sentry watch** {verdict.headline()} ([release]({verdict.release_url}))\n")
    if as_json:
        out.result(json.dumps(verdict.as_json(), indent=2))
    else:
        for line in verdict.lines():
            (lines_to or out.result)(line)


def main() -> None:
    """The entry point: the only place errors become messages and exit codes."""
    try:
        cli.main(standalone_mode=False, prog_name="sentry-release")
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("sentry-release: interrupted; anything already sent stays in Sentry: re-run the same "
                   "command to finish (it is safe to repeat)", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code else EXIT_USAGE)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SentryReleaseError as exc:
        click.echo(f"sentry-release: error: {redact(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: one line, token-free; the traceback only when asked for
        if os.environ.get("SENTRY_RELEASE_DEBUG") == "1":
            raise
        detail = redact(" ".join(str(exc).split()))[:300]
        click.echo(f"sentry-release: internal error: {type(exc).__name__}: {detail} (please report it; "
                   "SENTRY_RELEASE_DEBUG=1 shows the traceback)", err=True)
        sys.exit(1)
