"""Command line: parse, call plain functions, print. Heavy modules are imported inside commands."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import click

from sentry_release import __version__
from sentry_release.errors import EXIT_USAGE, SentryReleaseError

_SECRETS: set[str] = set()

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Output:
    """Progress on stderr (quiet hides it, verbose adds HTTP retries), results on stdout."""

    def __init__(self, quiet: bool = False, verbose: bool = False) -> None:
        self.quiet, self.verbose = quiet, verbose

    def log(self, line: str) -> None:
        if not self.quiet:
            click.echo(f"sentry-release: {redact(line)}", err=True)

    def debug(self, line: str) -> None:
        if self.verbose:
            click.echo(f"sentry-release: {redact(line)}", err=True)

    def result(self, text: str) -> None:
        click.echo(redact(text))


def redact(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


def common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--org", "-o", help="Organization slug [env SENTRY_ORG]."),
        click.option("--project", "-p", "projects", multiple=True,
                     help="Project slug; repeat for several [env SENTRY_PROJECT, comma-separated]."),
        click.option("--url", help="Sentry server URL [env SENTRY_URL; default https://sentry.io]."),
        click.option("--auth-token", help="Auth token [env SENTRY_AUTH_TOKEN]; prefer the environment."),
        click.option("--json", "as_json", is_flag=True, help="Print a JSON result on stdout."),
        click.option("--quiet", "-q", is_flag=True, help="Print only the result."),
        click.option("--verbose", "-v", is_flag=True, help="Also print HTTP retries and details."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def naming_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--release", "-r", help="Use this release name as given [env SENTRY_RELEASE]."),
        click.option("--release-prefix", help="Text put before the release name, e.g. 'shop@'."),
        click.option("--template", help="Name template; placeholders {version} {date} {sha} {short_sha} "
                     "{branch} {build} {package} [default v{version}-{date}]."),
        click.option("--base-version", help="The {version} to use, instead of tags or project files."),
        click.option("--version-source", type=click.Choice(["auto", "tag", "pyproject", "setup.cfg",
                     "package.json", "version"]), help="Where {version} comes from [default: first found]."),
        click.option("--date-source", type=click.Choice(["commit", "now", "pipeline"]),
                     help="{date}: HEAD commit date in UTC (default), today, or the CI pipeline's start."),
        click.option("--no-fetch", "no_fetch", is_flag=True,
                     help="Never fetch tags or history from the remote in a shallow clone."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _flags(params: dict[str, Any]) -> dict[str, Any]:
    flags = dict(params)
    if flags.pop("no_fetch", False):
        flags["fetch"] = False
    return flags


def load(params: dict[str, Any], environment: Optional[str] = None) -> Any:
    from sentry_release.config import load_settings

    settings = load_settings(_flags(params), os.environ, Path.cwd(), environment)
    if settings.auth_token:
        _SECRETS.add(settings.auth_token)
    return settings


def make_output(params: dict[str, Any]) -> Output:
    return Output(quiet=bool(params.get("quiet")), verbose=bool(params.get("verbose")))


def make_client(settings: Any, out: Output, dry_run: bool = False) -> Any:
    from sentry_release.sentry import SentryClient

    return SentryClient(settings.url, settings.auth_token, timeout=settings.timeout, max_retries=settings.max_retries,
                        budget=settings.http_budget, ca_bundle=settings.ca_bundle, log=out.log, debug=out.debug,
                        dry_run=dry_run,
                        pipeline=os.environ.get("SENTRY_PIPELINE", "").strip() or None)


def derive(settings: Any, out: Output) -> Any:
    from sentry_release.derive import derive_release

    return derive_release(settings, Path.cwd(), os.environ, out.log)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", "-V", prog_name="sentry-release")
def cli() -> None:
    """Create Sentry releases at deploy time.

    \b
    One command in a deploy job:
      sentry-release deploy -e production
    derives the release name (v{version}-{date}, e.g. v1.0.0-20240116), creates the
    release, associates commits, finalizes it, records the deploy and writes
    RELEASE=<name> back into your .env / $GITHUB_ENV / GitLab dotenv report.

    \b
    Try it safely, without a Sentry account:
      sentry-release deploy -e staging --dry-run

    Settings come from flags, then SENTRY_* variables, then [tool.sentry-release] in
    pyproject.toml; `sentry-release config` shows each value and where it came from.
    Exit codes: 0 success, 1 operational failure, 2 invalid input.
    """


@cli.command(short_help="Print the release name (no network).")
@common_options
@naming_options
def version(**params: Any) -> None:
    """Print the release name this checkout gets (no network).

    With --json, also where each part of the name came from.
    """
    out = make_output(params)
    settings = load(params)
    for warning in settings.warnings:
        out.log(f"warning: {warning}")
    derivation = derive(settings, out)
    if params["as_json"]:
        out.result(json.dumps({
            "release": derivation.name,
            "source": derivation.source,
            "template": derivation.template,
            "parts": {k: {"value": p.value, "source": p.source} for k, p in derivation.parts.items()},
            "settings": settings.describe(),
        }, indent=2))
    else:
        out.result(derivation.name)


@cli.command("config", short_help="Show each setting and where it came from.")
@common_options
@naming_options
@click.option("--environment", "-e", help="Show the settings for this environment's section.")
def config_cmd(environment: Optional[str], **params: Any) -> None:
    """Show every effective setting and where it came from (token masked)."""
    out = make_output(params)
    settings = load(params, environment or os.environ.get("SENTRY_ENVIRONMENT"))
    described = settings.describe()
    if params["as_json"]:
        out.result(json.dumps({"pyproject": str(settings.pyproject) if settings.pyproject else None,
                               "settings": described, "warnings": settings.warnings}, indent=2))
        return
    width = max(len(name) for name in described)
    for name, item in described.items():
        out.result(f"{name:<{width}}  {json.dumps(item['value'])}  ({item['source']})")
    for warning in settings.warnings:
        out.result(f"warning: {warning}")


def writeback_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--env-file", type=click.Path(dir_okay=False),
                     help="Write the release name into this .env file (created if missing)."),
        click.option("--env-key", "env_keys", multiple=True,
                     help="Key to write; repeat for several [default RELEASE]; e.g. SENTRY_RELEASE."),
        click.option("--dotenv", type=click.Path(dir_okay=False),
                     help="GitLab dotenv report to write [default sentry-release.env when GITLAB_CI=true]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def write_targets(settings: Any, explicit_dotenv: bool) -> dict[str, Path]:
    """Every file the write-back will touch, named as the user knows it."""
    targets: dict[str, Path] = {}
    if settings.env_file:
        targets[str(settings.env_file)] = Path(settings.env_file)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for var in ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
            if os.environ.get(var):
                targets[f"${var}"] = Path(os.environ[var])
    if explicit_dotenv or os.environ.get("GITLAB_CI") == "true":
        targets[f"the dotenv report {settings.dotenv}"] = Path(settings.dotenv)
    return targets


def check_write_targets(settings: Any, explicit_dotenv: bool) -> None:
    """Fail before anything is sent to Sentry when a write-back file cannot be written."""
    from sentry_release.errors import WriteBackError

    for label, path in write_targets(settings, explicit_dotenv).items():
        folder = path.resolve().parent
        if path.is_dir():
            raise WriteBackError(f"{label} ({path}) is a directory; name a file")
        if not folder.is_dir():
            raise WriteBackError(f"{label} ({path}): folder {folder} does not exist; create it or fix the path")
        if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise WriteBackError(f"{label} ({path}) is not writable; fix its permissions or choose another file")


def write_back(settings: Any, result: Any, out: Output, explicit_dotenv: bool) -> Callable[[], None]:
    """Write the release name to every target that applies; return how to undo the .env edit."""
    from sentry_release import writeback

    name = result.release
    values = {key: name for key in settings.env_keys}
    written = []
    undo: Callable[[], None] = lambda: None
    if settings.env_file:
        env_file = Path(settings.env_file)
        original = writeback.update_env_file(env_file, values)
        undo = lambda: writeback.restore_env_file(env_file, original)  # noqa: E731
        written.append(str(settings.env_file))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        if os.environ.get("GITHUB_ENV"):
            writeback.write_github_env(Path(os.environ["GITHUB_ENV"]), values)
            written.append("$GITHUB_ENV")
        if os.environ.get("GITHUB_OUTPUT"):
            outputs = {"release": name, "release_url": getattr(result, "release_url", "") or "",
                       "commits": str(getattr(result, "commits", "") or 0),
                       "deploy_id": getattr(result, "deploy_id", None) or ""}
            writeback.write_github_output(Path(os.environ["GITHUB_OUTPUT"]), outputs)
            written.append("$GITHUB_OUTPUT")
        if os.environ.get("GITHUB_STEP_SUMMARY") and hasattr(result, "environment"):
            writeback.append_github_summary(Path(os.environ["GITHUB_STEP_SUMMARY"]), _summary(result))
    if explicit_dotenv or os.environ.get("GITLAB_CI") == "true":
        writeback.write_gitlab_dotenv(Path(settings.dotenv), values)
        written.append(str(settings.dotenv))
    if written:
        out.log(f"wrote {', '.join(sorted(values))}={name} to {', '.join(written)}")
    return undo


def _summary(result: Any) -> str:
    deploy = (f"recorded (id {result.deploy_id})" if result.deploy_created
              else f"already recorded (id {result.deploy_id})" if result.deploy_id else "not recorded")
    return (f"### Sentry release [{result.release}]({result.release_url})\n\n"
            f"| | |\n|---|---|\n| Projects | {', '.join(result.projects)} |\n"
            f"| Environment | {result.environment} |\n| Commits | {result.commits} ({result.commits_source}) |\n"
            f"| Deploy | {deploy} |\n")


@cli.command(short_help="Write the release name into .env / CI files.")
@common_options
@naming_options
@writeback_options
@click.option("--format", "fmt", type=click.Choice(["shell", "json", "dotenv"]),
              help="Also print the values on stdout in this format.")
def export(fmt: Optional[str], env_file: Optional[str], env_keys: tuple[str, ...], dotenv: Optional[str],
           **params: Any) -> None:
    """Write the release name into the deploy environment (no network).

    \b
    --env-file .env        update RELEASE=<name> in place (atomic; other lines untouched)
    GitHub Actions         RELEASE to $GITHUB_ENV, output `release` to $GITHUB_OUTPUT
    GitLab CI              RELEASE=<name> to the dotenv report (--dotenv)
    --format shell|json|dotenv   print to stdout, e.g. eval "$(sentry-release export --format shell)"
    """
    from sentry_release import writeback
    from sentry_release.pipeline import DeployResult

    out = make_output(params)
    settings = _with_writeback(load(params), env_file, env_keys, dotenv)
    derivation = derive(settings, out)
    result = DeployResult(derivation.name, "", list(settings.projects))
    write_back(settings, result, out, explicit_dotenv=bool(dotenv))
    if fmt:
        out.result(writeback.render_values({k: derivation.name for k in settings.env_keys}, fmt).rstrip("\n"))
    elif not (settings.env_file or dotenv):
        out.result(derivation.name)


def _with_writeback(settings: Any, env_file: Optional[str], env_keys: tuple[str, ...], dotenv: Optional[str]) -> Any:
    if env_file:
        settings = settings.with_value("env_file", env_file, "--env-file")
    if env_keys:
        settings = settings.with_value("env_keys", tuple(env_keys), "--env-key")
    if dotenv:
        settings = settings.with_value("dotenv", dotenv, "--dotenv")
    return settings


@cli.command(short_help="The whole flow: create, commits, finalize, deploy, write back.")
@common_options
@naming_options
@click.option("--environment", "-e", help="Environment name, e.g. production [env SENTRY_ENVIRONMENT].")
@click.option("--commits", type=click.Choice(["auto", "local", "skip"]),
              help="auto: refs through the repository integration, else local history (default).")
@click.option("--ignore-missing", is_flag=True, default=None,
              help="If the previous release's commit is not in history, fall back instead of failing.")
@click.option("--initial-depth", type=int, help="Commits to send for a first release [default 20].")
@click.option("--path", "paths", multiple=True, help="Only commits touching this path (monorepos); repeatable.")
@click.option("--finalize/--no-finalize", default=None, help="Set the release's date released [default: yes].")
@click.option("--deploy-name", help="Deploy name [default: the CI run id]. Re-runs with the same name add no deploy.")
@click.option("--deploy-url", help="Deploy URL [default: the CI environment or run URL].")
@click.option("--started-at", help="Deploy start (unix seconds or ISO-8601).")
@click.option("--finished-at", help="Deploy end (unix seconds or ISO-8601) [default: now].")
@writeback_options
@click.option("--dry-run", is_flag=True, help="Print the requests it would send; change nothing, write nothing.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def deploy(environment: Optional[str], dry_run: bool, env_file: Optional[str], env_keys: tuple[str, ...],
           dotenv: Optional[str], deploy_name: Optional[str], deploy_url: Optional[str], started_at: Optional[str],
           finished_at: Optional[str], command: tuple[str, ...], **params: Any) -> None:
    """Create, associate commits, finalize, record the deploy, write back: all in one.

    \b
    sentry-release deploy -e production
    sentry-release deploy -e production --env-file .env --env-key RELEASE --env-key SENTRY_RELEASE
    sentry-release deploy -e staging --dry-run
    sentry-release deploy -e production -- ./deploy.sh --fast

    After `--`, the real deploy command runs with SENTRY_RELEASE set; the deploy is
    recorded only if it succeeds, and its exit code becomes ours.
    """
    from sentry_release.ci import detect_ci
    from sentry_release.pipeline import DeployInputs, deploy as run_deploy

    from sentry_release.sentry import preload

    if command:
        _require_command(command)
    preload()
    out = make_output(params)
    ci = detect_ci(os.environ)
    environment = environment or os.environ.get("SENTRY_ENVIRONMENT") or ci.environment
    settings = _with_writeback(load(params, environment), env_file, env_keys, dotenv)
    for warning in settings.warnings:
        out.log(f"warning: {warning}")
    derivation = derive(settings, out)
    out.log(f"release {derivation.name} ({_explain(derivation)})")
    inputs = DeployInputs(
        environment=environment,
        deploy_name=deploy_name or ci.deploy_name,
        deploy_url=deploy_url or settings.deploy_url or ci.environment_url or ci.run_url,
        started_at=started_at, finished_at=finished_at, command=command,
    )

    def write(result: Any) -> Callable[[], None]:
        if dry_run:
            targets = ", ".join(write_targets(settings, bool(dotenv))) or "nothing"
            out.log(f"dry run: would write {', '.join(settings.env_keys)}={result.release} to {targets}")
            return lambda: None
        return write_back(settings, result, out, explicit_dotenv=bool(dotenv))

    if not dry_run:
        check_write_targets(settings, bool(dotenv))

    with make_client(settings, out, dry_run=dry_run) as client:
        result = run_deploy(settings, derivation, inputs, client, out.log, write)
        if dry_run:
            _print_plan(client, out, settings)
    if result.command_exit:
        sys.exit(result.command_exit)
    _print_result(result, out, params["as_json"])


def _require_command(command: tuple[str, ...]) -> None:
    """Refuse a wrapped command that cannot run before anything is sent to Sentry."""
    import shutil

    if os.path.sep in command[0] and os.path.isfile(command[0]) and not os.access(command[0], os.X_OK):
        raise click.UsageError(f"deploy command {command[0]!r} is not executable; chmod +x it or run it "
                               "through its interpreter (sh ./deploy.sh)")
    if shutil.which(command[0]) is None:
        raise click.UsageError(
            f"deploy command {command[0]!r} not found; put the command after `--` "
            f"(and name the environment with -e, e.g. `-e {command[0]}`)")


def _explain(derivation: Any) -> str:
    if not derivation.parts:
        return f"from {derivation.source}"
    return "; ".join(f"{name} {part.value} from {part.source}" for name, part in derivation.parts.items())


def _print_plan(client: Any, out: Output, settings: Any) -> None:
    out.log(f"dry run: {len(client.plan)} request(s) would be sent to {client.base_url}")
    for number, request in enumerate(client.plan, 1):
        body = json.dumps(request.body, indent=2) if request.body is not None else ""
        click.echo(redact(f"[{number}] {request.method} /api/0/{request.path}\n{body}"), err=True)


def _print_result(result: Any, out: Output, as_json: bool) -> None:
    if as_json:
        out.result(json.dumps(result.as_json(), indent=2))
    else:
        out.result(result.release)


# -- single steps: new, set-commits, finalize ---------------------------------------------------

@cli.command(short_help="Create the release (idempotent).")
@common_options
@naming_options
@click.option("--finalize", is_flag=True, help="Also set the date released.")
@click.option("--dry-run", is_flag=True, help="Print the request; send nothing.")
def new(finalize: bool, dry_run: bool, **params: Any) -> None:
    """Create the release for the configured projects (re-running is fine: 208 is success)."""
    from sentry_release.pipeline import new_release

    _run_step(params, dry_run, lambda settings, derivation, client, log:
              new_release(settings, derivation, client, finalize, log))


@cli.command("set-commits", short_help="Associate commits with the release.")
@common_options
@naming_options
@click.option("--auto", "mode", flag_value="auto", help="Refs through the repository integration, else local (default).")
@click.option("--local", "mode", flag_value="local", help="Send commits from local git history.")
@click.option("--commit", "-c", "specs", multiple=True, metavar="REPO@[PREV..]SHA",
              help="Explicit ref range, as in sentry-cli; repeatable.")
@click.option("--clear", is_flag=True, help="Remove all commits from the release.")
@click.option("--ignore-missing", is_flag=True, default=None,
              help="If the previous release's commit is not in history, fall back instead of failing.")
@click.option("--initial-depth", type=int, help="Commits to send for a first release [default 20].")
@click.option("--path", "paths", multiple=True, help="Only commits touching this path (monorepos); repeatable.")
@click.option("--dry-run", is_flag=True, help="Print the requests; send no writes.")
def set_commits_cmd(mode: Optional[str], specs: tuple[str, ...], clear: bool, dry_run: bool, **params: Any) -> None:
    """Associate commits with the release (creating it if needed).

    \b
    --auto     match the git remote to a Sentry repository integration and send refs;
               with no match, fall back to local history and say why
    --local    previous release's commit..HEAD from local git, each commit with its own
               first-parent file changes; deepens a shallow clone when needed
    --commit   acme/shop@PREV..SHA, sent as given
    """
    from sentry_release.pipeline import commit_options, set_commits

    def step(settings: Any, derivation: Any, client: Any, log: Callable[[str], None]) -> Any:
        options = commit_options(settings, specs=specs, clear=clear)
        if mode:
            options.mode = mode
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


def _run_step(params: dict[str, Any], dry_run: bool, step: Callable[..., Any]) -> None:
    """Settings, release name and one client around a single API step; then the result."""
    from sentry_release.sentry import preload

    preload()
    out = make_output(params)
    settings = load(params)
    for warning in settings.warnings:
        out.log(f"warning: {warning}")
    derivation = derive(settings, out)
    with make_client(settings, out, dry_run) as client:
        result = step(settings, derivation, client, out.log)
        if dry_run:
            _print_plan(client, out, settings)
    _print_result(result, out, params["as_json"])


# -- check (production checklist) -------------------------------------------------------------

@cli.command(short_help="Production checklist: token, projects, DSN, rates, release.")
@common_options
@naming_options
@click.option("--environment", "-e", help="Environment being checked [default: the app's ENVIRONMENT].")
@click.option("--env-file", type=click.Path(dir_okay=False),
              help="The app's .env file [default: env-file in pyproject.toml, else ./.env]; its values "
                   "win over the process environment.")
@click.option("--send-test-event", is_flag=True, help="Also send one test error event to the DSN.")
def check(environment: Optional[str], env_file: Optional[str], send_test_event: bool, **params: Any) -> None:
    """Run the production checklist: token, org/projects, repository, DSN, environment, sample rates.

    \b
    sentry-release check -e production --env-file .env
    sentry-release check --env-file .env --send-test-event

    Also checks that RELEASE in the .env is this checkout's release and exists in Sentry, and
    that DEBUG is off in production. Exit code 1 when any item fails.
    """
    from sentry_release.check import run_check_command

    sys.exit(run_check_command(load, make_output(params), params, environment, env_file, send_test_event))


def main() -> None:
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
