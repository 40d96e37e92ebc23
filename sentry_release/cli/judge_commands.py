"""The commands that judge a setup or a release: check (the production checklist) and watch (the gate)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import click

from sentry_release.cli.base import (
    cli, common_options, gate_options, load_settings, naming_options, parsed_by, start,
)
from sentry_release.output import Output

if TYPE_CHECKING:
    from sentry_release.config import Settings
    from sentry_release.pipeline import DeployResult
    from sentry_release.watch import Verdict


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
@click.option("--for", "window", required=True, metavar="DURATION", callback=parsed_by("parse_duration"),
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
    release = watching.choose_release(settings, Path.cwd(), out.log)
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



def deploy_then_watch(settings: Settings, result: DeployResult, window: float, out: Output, as_json: bool) -> int:
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
