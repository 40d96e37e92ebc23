"""`sentry-release check`: the production checklist from the app's Sentry guide, as one command.

Each item ends as ok, warning or failure, with a one-line fix; any failure makes the exit code 1.
The concerns live in their own modules: `appenv` (the app's values and its `.env` reader),
`values` (checks of those values), `misread` (values a reader misreads), `sentry_checks` (what
Sentry says), `event` (the test event), `fix` (`--fix`), `report` (text and JSON).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional

from sentry_release.check.appenv import AppEnv, find_env_file, load_app_env
from sentry_release.check.event import send_test_event
from sentry_release.check.fix import apply_fixes
from sentry_release.check.misread import check_env_syntax
from sentry_release.check.model import FAILURE, Check, Facts, Item
from sentry_release.check.report import report
from sentry_release.check.sentry_checks import (
    check_dsn_key,
    check_dsn_project,
    check_org,
    check_projects,
    check_release_in_sentry,
    check_repository,
    check_token,
)
from sentry_release.check.values import (
    app_environment,
    app_release,
    check_debug,
    check_dsn,
    check_environment,
    check_rate,
    check_release,
)
from sentry_release.errors import SentryReleaseError
from sentry_release.output import Output

if TYPE_CHECKING:
    from sentry_release.config import Settings

__all__ = ["AppEnv", "CheckOptions", "environment_to_check", "run_check"]

# Items about the app's .env values: JSON names the reader semantics they were checked with.
_ENV_ITEMS = {"dsn", "dsn_project", "dsn_key", "environment", "sentry_traces_sample_rate", "sentry_sample_rate",
              "release", "release_exists", "debug", "test_event"}


@dataclass(frozen=True)
class CheckOptions:
    environment: Optional[str] = None     # -e; None: the app's own ENVIRONMENT
    env_file: Optional[str] = None        # --env-file; None: env-file setting, else ./.env
    send_test_event: bool = False
    fix: bool = False
    as_json: bool = False
    quiet: bool = False                   # only failures and warnings


def environment_to_check(options: CheckOptions, settings: Settings, cwd: Path,
                         environ: Mapping[str, str]) -> Optional[str]:
    """-e, else the app's own ENVIRONMENT / SENTRY_ENVIRONMENT (its .env first): the settings
    section to load before `run_check`."""
    if options.environment:
        return options.environment
    path = find_env_file(options.env_file, settings.env_file, cwd)
    return app_environment(load_app_env(path, environ, "python-dotenv", []))


def run_check(settings: Settings, options: CheckOptions, out: Output, cwd: Optional[Path] = None,
              environ: Optional[Mapping[str, str]] = None) -> int:
    """Run the checklist (and `--fix`) with settings already loaded for the environment; the exit code."""
    from sentry_release.sentry import SentryClient

    cwd = cwd or Path.cwd()
    environ = os.environ if environ is None else environ
    facts = _derive(settings, cwd, out.log)
    path = find_env_file(options.env_file, settings.env_file, cwd)
    folders = [cwd, *([facts.repo_dir] if facts.repo_dir else [])]
    env = load_app_env(path, environ, settings.env_reader, folders)
    option = f" --env-file {path}" if path else " --env-file .env"
    fixes: list[str] = []
    with SentryClient(settings.url, settings.auth_token, timeout=settings.timeout,
                      max_retries=min(int(settings.max_retries), 2), budget=settings.http_budget,
                      ca_bundle=settings.ca_bundle, log=out.debug) as client:
        run = Check(settings, env, options.environment or app_environment(env), client, facts, option, out.log)
        items, event_id = run_checks(run, options.send_test_event and not options.fix)
        if options.fix:
            fixes = apply_fixes(run, items)
            env = load_app_env(path, environ, settings.env_reader, folders)
            again = Facts(derived=facts.derived, derive_error=facts.derive_error, repo_dir=facts.repo_dir)
            run = replace(run, env=env, facts=again, environment=options.environment or app_environment(env))
            items, event_id = run_checks(run, options.send_test_event)
    report(out, run, items, event_id, fixes, options.as_json, options.quiet)
    return 1 if any(item.status == FAILURE for item in items) else 0


def _derive(settings: Settings, cwd: Path, log: Callable[[str], None]) -> Facts:
    from sentry_release.derive import derive_release

    facts = Facts()
    try:
        derivation = derive_release(settings, cwd, log)
    except SentryReleaseError as exc:
        facts.derive_error = str(exc)
        from sentry_release.git import open_repository

        try:
            repo = open_repository(cwd)
        except SentryReleaseError:
            repo = None
        facts.repo_dir = repo.root if repo is not None else None
        return facts
    facts.derived, facts.repo_dir = derivation.name, derivation.repo_dir
    return facts


def run_checks(run: Check, send_event: bool) -> tuple[list[Item], Optional[str]]:
    items = [check_token(run), check_org(run), check_projects(run), check_repository(run),
             check_dsn(run), check_dsn_project(run), check_dsn_key(run), check_environment(run),
             check_rate(run, "SENTRY_TRACES_SAMPLE_RATE"), check_rate(run, "SENTRY_SAMPLE_RATE"),
             check_release(run), check_release_in_sentry(run), check_debug(run)]
    items += check_env_syntax(run)
    event_id = None
    if send_event:
        item, event_id = send_test_event(run, app_release(run.env) or run.facts.derived)
        items.append(item)
    for item in items:
        if item.key in _ENV_ITEMS and not item.readers:
            item.readers = list(run.env.readers)
    return items, event_id

