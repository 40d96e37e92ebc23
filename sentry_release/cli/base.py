"""What every command shares: option groups, settings, output, the client, and the `sentry-release` group."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import click

from sentry_release import __version__
from sentry_release.errors import ConfigError
from sentry_release.output import Output, hide

if TYPE_CHECKING:
    from sentry_release.config import Settings
    from sentry_release.derive import Derivation
    from sentry_release.sentry import SentryClient

Command = Callable[..., Any]
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _options(*options: Callable[[Command], Command]) -> Callable[[Command], Command]:
    def apply(func: Command) -> Command:
        for option in reversed(options):
            func = option(func)
        return func
    return apply


def parsed_by(parser: str) -> Callable[[click.Context, click.Parameter, Optional[str]], Any]:
    """A click callback around one of units.py's parsers, so errors name the flag and exit 2."""

    def convert(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Any:
        from sentry_release import units

        try:
            return None if value is None else getattr(units, parser)(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
    return convert


gate_options = _options(
    click.option("--interval", "watch_interval", metavar="DURATION", callback=parsed_by("parse_interval"),
                 help="Time between health polls, 1s or more [pyproject watch-interval; default 30s]."),
    click.option("--max-new-issues", "watch_max_new_issues", type=click.IntRange(min=0), metavar="N",
                 help="Fail when more new issues appear [pyproject watch-max-new-issues; default 3]."),
    click.option("--min-crash-free", "watch_min_crash_free", metavar="PERCENT", callback=parsed_by("parse_percent"),
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
    click.option("--http-timeout", "timeout", metavar="SECONDS",
                 help="Read timeout of one request [env SENTRY_HTTP_TIMEOUT; default 30]."),
    click.option("--http-max-retries", "max_retries", metavar="N",
                 help="Retries of a failed request [env SENTRY_HTTP_MAX_RETRIES; default 5]."),
    click.option("--http-budget", "http_budget", metavar="SECONDS",
                 help="Time for all of the run's requests to Sentry together; a stalled server ends the run "
                      "then [env SENTRY_HTTP_BUDGET; default 80]."),
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

    return derive_release(settings, Path.cwd(), out.log)


def make_client(settings: Settings, out: Output, dry_run: bool = False) -> SentryClient:
    from sentry_release.sentry import SentryClient

    if not dry_run and not settings.auth_token:
        raise ConfigError("no auth token: set SENTRY_AUTH_TOKEN or pass --auth-token (or --dry-run to see the plan)")
    return SentryClient(settings.url, settings.auth_token, timeout=settings.timeout, max_retries=settings.max_retries,
                        budget=settings.http_budget, ca_bundle=settings.ca_bundle, log=out.log, debug=out.debug,
                        dry_run=dry_run, pipeline=settings.pipeline)


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
