"""`sentry-release check`: the production checklist from the app's Sentry guide, as one command.

Each item ends as ok, warning or failure, with a one-line fix. Any failure makes the exit code 1.

Where the app's values come from: the `.env` file (`--env-file`, else `env-file` in pyproject.toml,
else `./.env` when present) wins, and the process environment fills the keys the file lacks. At
run time python-decouple, python-dotenv and django-environ all let the *app's* process environment
override its file, but this command usually runs in a deploy job whose environment is not the
app's, so the file is the better witness of what the app will read.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from sentry_release import dsn as dsn_mod
from sentry_release.errors import ApiError, ConfigError, InvalidName, SentryReleaseError
from sentry_release.sentry import Context, SentryClient, seg

OK, WARNING, FAILURE = "ok", "warning", "failure"

RELEASE_WRITE = frozenset({"project:releases", "project:write", "project:admin", "org:ci"})
RELEASE_READ = RELEASE_WRITE | {"project:read"}
REPO_READ = frozenset({"org:admin", "org:ci", "org:integrations", "org:read", "org:write"})
ORG_READ = frozenset({"org:read", "org:write", "org:admin"})
PROJECT_READ = frozenset({"project:read", "project:write", "project:admin"})

_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off", ""}


@dataclass
class Item:
    key: str
    title: str
    status: str
    message: str
    fix: Optional[str] = None


# -- the app's .env file -----------------------------------------------------------------------

@dataclass(frozen=True)
class EnvEntry:
    value: str        # as python-dotenv reads it: inline ` # comment` dropped, quotes removed
    literal: str      # as python-decouple / django-environ read it: an inline comment stays in
    line: int


_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def parse_env_text(text: str) -> dict[str, EnvEntry]:
    """KEY=value lines with `export`, quotes and comments; later lines win, as in every reader."""
    entries: dict[str, EnvEntry] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match:
            key, raw = match.groups()
            entries[key] = EnvEntry(_unquote(raw), _decouple_value(raw), number)
    return entries


def _unquote(raw: str) -> str:
    if raw[:1] in ("'", '"'):
        quote, body = raw[0], raw[1:]
        end = _closing_quote(body, quote)
        if end is not None:
            inner = body[:end]
            return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), inner) if quote == '"' else inner
    return re.split(r"\s+#", raw, maxsplit=1)[0].rstrip()


def _closing_quote(body: str, quote: str) -> Optional[int]:
    index = 0
    while index < len(body):
        if body[index] == "\\" and quote == '"':
            index += 2
            continue
        if body[index] == quote:
            return index
        index += 1
    return None


def _decouple_value(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in ("'", '"'):
        return raw[1:-1]
    return raw


def read_env_file(path: Path) -> dict[str, EnvEntry]:
    try:
        return parse_env_text(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"env file {path} does not exist: pass the app's .env with --env-file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read env file {path}: {exc}") from None


class AppEnv:
    """The app's settings: values in the env file win; the process environment fills the gaps."""

    def __init__(self, file: Optional[Path], entries: Mapping[str, EnvEntry], environ: Mapping[str, str]) -> None:
        self.file, self.entries, self.environ = file, dict(entries), environ
        self.label = file.name if file else None

    def get(self, key: str) -> Optional[str]:
        if key in self.entries:   # an empty value in the file hides the process environment's
            return self.entries[key].value or None
        value = self.environ.get(key)
        return value if value not in (None, "") else None

    def source(self, key: str) -> str:
        return f"{self.label} line {self.entries[key].line}" if key in self.entries else "process environment"

    def shown(self, key: str) -> str:
        return f"{key}={self.get(key)} (from {self.source(key)})"

    def describe(self) -> str:
        if self.file is None:
            return "the process environment (no .env file)"
        return f"{self.file} (wins), then the process environment"


def find_env_file(explicit: Optional[str], settings: Any, cwd: Path) -> Optional[Path]:
    if explicit:
        return Path(explicit)
    configured = getattr(settings, "env_file", None)
    if configured:
        return Path(configured)
    default = cwd / ".env"
    return default if default.is_file() else None


# -- what the checks learn along the way -------------------------------------------------------

@dataclass
class Facts:
    scopes: Optional[frozenset[str]] = None       # None: the token could not be read
    org_token: bool = False
    org_ok: bool = False
    org_id: Optional[str] = None
    project_ids: dict[str, str] = field(default_factory=dict)
    derived: Optional[str] = None
    derive_error: Optional[str] = None
    repo_dir: Optional[Path] = None

    def can(self, needed: Iterable[str]) -> bool:
        return self.scopes is not None and bool(self.scopes & set(needed))


@dataclass
class Check:
    settings: Any
    env: AppEnv
    environment: Optional[str]            # the environment being checked (flag or the app's own)
    client: SentryClient
    facts: Facts
    env_file_option: str                  # how to name the env file in a fix
    log: Callable[[str], None]

    @property
    def production(self) -> bool:
        return bool(self.environment) and str(self.environment).strip().lower().startswith("prod")


# -- Sentry: token, organization, projects, repository ----------------------------------------

def check_token(run: Check) -> Item:
    title = "auth token"
    if not run.settings.auth_token:
        return Item("token", title, FAILURE, "no auth token is configured",
                    "set SENTRY_AUTH_TOKEN to a token with project:releases (or an organization auth token)")
    try:
        reply = run.client.get("", Context(action="read the auth token's scopes"))
    except ApiError as exc:
        return _api_failure("token", title, exc, "create a new token in Sentry and set SENTRY_AUTH_TOKEN")
    auth = reply.data.get("auth") if isinstance(reply.data, dict) else None
    if not isinstance(auth, dict):
        return Item("token", title, FAILURE, "Sentry did not recognise the token",
                    "create a new token in Sentry and set SENTRY_AUTH_TOKEN")
    scopes = frozenset(str(s) for s in auth.get("scopes") or ())
    run.facts.scopes = scopes
    run.facts.org_token = str(run.settings.auth_token).startswith("sntrys_") or not reply.data.get("user")
    kind = "organization auth token" if run.facts.org_token else "user auth token"
    listed = ", ".join(sorted(scopes)) or "none"
    if not run.facts.can(RELEASE_WRITE):
        needed = "org:ci" if run.facts.org_token else "project:releases"
        return Item("token", title, FAILURE,
                    f"valid {kind}, but it lacks {needed}, which creating releases and deploys needs "
                    f"(scopes: {listed})",
                    f"create a token with the {needed} scope and set SENTRY_AUTH_TOKEN")
    return Item("token", title, OK, f"valid {kind}; scopes: {listed}")


def _api_failure(key: str, title: str, exc: ApiError, fix: str) -> Item:
    if exc.status is None:
        return Item(key, title, FAILURE, str(exc), "check SENTRY_URL and the network")
    return Item(key, title, FAILURE, str(exc), fix)


def _not_checked(key: str, title: str, why: str) -> Item:
    return Item(key, title, WARNING, f"not checked: {why}")


def check_org(run: Check) -> Item:
    title, org = "organization", run.settings.org
    if not org:
        return Item("org", title, FAILURE, "no organization is configured",
                    "set SENTRY_ORG (the slug in your Sentry URL) or pass --org")
    if run.facts.scopes is None:
        return _not_checked("org", title, "no usable auth token")
    context = Context(action=f"read organization {org}", not_found=f"organization {org!r} does not exist "
                      "or the token cannot see it", scope="org:read")
    try:
        if run.facts.can(ORG_READ):
            data = run.client.get(f"organizations/{seg(org)}/", context).data
            run.facts.org_id = str(data.get("id")) if isinstance(data, dict) and data.get("id") else None
        elif run.facts.can(RELEASE_READ):
            run.client.get(f"organizations/{seg(org)}/releases/", context, params={"per_page": 1})
        else:
            return _not_checked("org", title, "the token can neither read the organization nor its releases")
    except ApiError as exc:
        fix = ("use a token of this organization, or fix SENTRY_ORG" if exc.status == 401
               else "check SENTRY_ORG (the slug in your Sentry URL) and the token's organization")
        return _api_failure("org", title, exc, fix)
    run.facts.org_ok = True
    return Item("org", title, OK, f"{org} exists and the token can reach it")


def check_projects(run: Check) -> Item:
    title, projects = "projects", list(run.settings.projects)
    if not projects:
        return Item("projects", title, FAILURE, "no project is configured",
                    "set SENTRY_PROJECT or pass --project (one Sentry project per environment is the guide's advice)")
    if not run.facts.org_ok:
        return _not_checked("projects", title, "the organization could not be checked")
    if not run.facts.can(PROJECT_READ):
        return _not_checked("projects", title, "the token cannot read projects (that needs project:read; "
                            "organization auth tokens never can); the release check below covers them")
    missing = []
    for slug in projects:
        context = Context(action=f"read project {slug}", not_found=f"project {slug!r} does not exist",
                          scope="project:read")
        try:
            data = run.client.get(f"projects/{seg(run.settings.org)}/{seg(slug)}/", context).data
        except ApiError as exc:
            if exc.status != 404:
                return _api_failure("projects", title, exc, "check SENTRY_PROJECT and the token's access")
            missing.append(slug)
            continue
        if isinstance(data, dict):
            run.facts.project_ids[slug] = str(data.get("id"))
            run.facts.org_id = run.facts.org_id or str((data.get("organization") or {}).get("id") or "") or None
    if missing:
        return Item("projects", title, FAILURE,
                    f"{', '.join(missing)} not found in {run.settings.org}, or the token cannot reach "
                    f"{'it' if len(missing) == 1 else 'them'}",
                    "fix SENTRY_PROJECT (project slugs), or give the token access to the project's team")
    shown = ", ".join(f"{slug} (id {run.facts.project_ids.get(slug, '?')})" for slug in projects)
    return Item("projects", title, OK, f"{shown} reachable")


def check_repository(run: Check) -> Item:
    title = "repository"
    if run.settings.commits == "skip":
        return Item("repository", title, OK, "commit association is switched off (commits = skip)")
    repo_dir = run.facts.repo_dir
    if repo_dir is None:
        return Item("repository", title, WARNING, "not inside a git checkout: deploys cannot associate commits",
                    "run in the checkout, or set commits = \"skip\" in [tool.sentry-release]")
    from sentry_release import commits

    remote = commits.remote_url(repo_dir, run.settings.vcs_remote)
    if remote is None:
        return Item("repository", title, OK,
                    f"no git remote {run.settings.vcs_remote!r}: commits will come from local git history")
    if not run.facts.org_ok:
        return _not_checked("repository", title, "the organization could not be checked")
    if not run.facts.can(REPO_READ):
        return Item("repository", title, WARNING,
                    "the token cannot list repositories: commits will come from local git history",
                    "add org:read to the token to use the repository integration")
    context = Context(action=f"list the repositories of organization {run.settings.org}", scope="org:read")
    try:
        repos = list(run.client.paginate(f"organizations/{seg(run.settings.org)}/repos/", context))
    except ApiError as exc:
        return Item("repository", title, WARNING, f"{exc}: commits will come from local git history",
                    "add org:read to the token to use the repository integration")
    match = commits.match_repository(remote, repos)
    if match is None:
        return Item("repository", title, OK,
                    f"no repository integration matches {_safe_remote(remote)}: commits will come from local "
                    "git history (connect the repository in Sentry for suspect commits)")
    provider = (match.get("provider") or {}).get("id", "integration")
    return Item("repository", title, OK,
                f"{_safe_remote(remote)} matches Sentry repository {match['name']!r} ({provider}): "
                "commits come through the integration")


def _safe_remote(url: str) -> str:
    """A remote URL without credentials (https://user:token@host/…)."""
    return re.sub(r"(?<=://)[^/@]+@", "", url)


# -- the app's settings: DSN, environment, rates, release, DEBUG -------------------------------

def check_dsn(run: Check) -> Item:
    title, raw = "SENTRY_DSN", run.env.get("SENTRY_DSN")
    where = f"{run.env.label} or the environment" if run.env.label else "the environment"
    if raw is None:
        return Item("dsn", title, FAILURE, f"SENTRY_DSN is not set in {where}: the app reports nothing",
                    "set SENTRY_DSN to the project's DSN (Project Settings → Client Keys (DSN))")
    try:
        dsn = dsn_mod.parse_dsn(raw)
    except dsn_mod.BadDsn as exc:
        return Item("dsn", title, FAILURE, f"SENTRY_DSN (from {run.env.source('SENTRY_DSN')}) is malformed: {exc}",
                    "copy the DSN from Project Settings → Client Keys: https://<public key>@<host>/<project id>")
    shown = dsn.describe()
    if not dsn_mod.host_matches(dsn.host, run.settings.url):
        return Item("dsn", title, WARNING, f"{shown} does not point at the configured Sentry {run.settings.url}",
                    "use the DSN of a project on this Sentry server, or fix SENTRY_URL")
    known_org = run.facts.org_id
    if dsn.org_id is not None and known_org and dsn.org_id != known_org:
        return Item("dsn", title, FAILURE,
                    f"{shown} belongs to organization id {dsn.org_id}, but {run.settings.org} has id {known_org}",
                    f"use a DSN from a project in {run.settings.org}")
    ids = run.facts.project_ids
    if ids and dsn.project_id not in ids.values():
        listed = ", ".join(f"{slug} (id {pid})" for slug, pid in ids.items())
        return Item("dsn", title, WARNING,
                    f"{shown} sends to project id {dsn.project_id}, not to the configured {listed}",
                    "use the DSN of the project this deploy creates releases in")
    return Item("dsn", title, OK, f"{shown}: well-formed, project id {dsn.project_id}")


def app_environment(env: AppEnv) -> Optional[str]:
    return env.get("ENVIRONMENT") or env.get("SENTRY_ENVIRONMENT")


def check_environment(run: Check) -> Item:
    title = "environment"
    name = app_environment(run.env)
    if name is None:
        return Item("environment", title, FAILURE, "neither ENVIRONMENT nor SENTRY_ENVIRONMENT is set",
                    f"set ENVIRONMENT={run.environment or 'production'} in the app's .env")
    key = "ENVIRONMENT" if run.env.get("ENVIRONMENT") else "SENTRY_ENVIRONMENT"
    try:
        from sentry_release.naming import validate_environment

        validate_environment(name)
    except InvalidName as exc:
        return Item("environment", title, FAILURE, f"{key} (from {run.env.source(key)}): {exc}",
                    f"set {key} to a name of at most 64 characters without '/' or line breaks, e.g. production")
    other = run.env.get("SENTRY_ENVIRONMENT")
    if key == "ENVIRONMENT" and other and other != name:
        return Item("environment", title, WARNING, f"ENVIRONMENT={name} but SENTRY_ENVIRONMENT={other}",
                    "set both to the same name (the SDK reads SENTRY_ENVIRONMENT when the app passes none)")
    if run.environment and run.environment.strip() != name.strip():
        return Item("environment", title, WARNING,
                    f"the app reports {key}={name}, but this check is for {run.environment}",
                    f"set {key}={run.environment} in the app's .env, or pass --environment {name}")
    return Item("environment", title, OK, run.env.shown(key))


def check_rate(run: Check, key: str) -> Item:
    raw = run.env.get(key)
    traces = key == "SENTRY_TRACES_SAMPLE_RATE"
    if raw is None:
        if traces:
            return Item(key.lower(), key, WARNING, f"{key} is not set: the app's default decides tracing",
                        f"set {key} to a sensible rate, e.g. 0.1")
        return Item(key.lower(), key, OK, f"{key} is not set (the SDK reports every error)")
    try:
        rate = float(raw)
    except ValueError:
        rate = math.nan
    if not math.isfinite(rate):
        return Item(key.lower(), key, FAILURE, f"{run.env.shown(key)} is not a number",
                    f"set {key} to a number between 0 and 1, e.g. {'0.1' if traces else '1.0'}")
    if not 0.0 <= rate <= 1.0:
        return Item(key.lower(), key, FAILURE, f"{run.env.shown(key)} is outside [0, 1]",
                    f"set {key} between 0 and 1, e.g. {'0.1' if traces else '1.0 (every error)'}")
    if traces and rate == 1.0 and run.production:
        return Item(key.lower(), key, WARNING, f"{run.env.shown(key)} traces every request in production",
                    f"lower {key}, e.g. 0.1 (10% of requests)")
    if not traces and rate == 0.0:
        return Item(key.lower(), key, WARNING, f"{run.env.shown(key)} drops every error",
                    f"set {key}=1.0 to report every error")
    return Item(key.lower(), key, OK, run.env.shown(key))


def _export_fix(run: Check) -> str:
    env = f" -e {run.environment}" if run.environment else ""
    return (f"run `sentry-release export{run.env_file_option}` to write the current release, "
            f"or deploy with `sentry-release deploy{env}{run.env_file_option}`")


def app_release(env: AppEnv) -> Optional[str]:
    return env.get("RELEASE") or env.get("SENTRY_RELEASE")


def check_release(run: Check) -> Item:
    title = "release"
    values = {key: run.env.get(key) for key in ("RELEASE", "SENTRY_RELEASE") if run.env.get(key)}
    if not values:
        return Item("release", title, WARNING, "neither RELEASE nor SENTRY_RELEASE is set: events carry no "
                    "release (or a git sha)", _export_fix(run))
    if len(set(values.values())) > 1:
        return Item("release", title, FAILURE,
                    f"RELEASE={values['RELEASE']} and SENTRY_RELEASE={values['SENTRY_RELEASE']} differ",
                    _export_fix(run))
    key, value = next(iter(values.items()))
    if run.facts.derived is None:
        return Item("release", title, WARNING,
                    f"{run.env.shown(key)}; cannot derive the release here to compare: {run.facts.derive_error}",
                    "run the check inside the deployed checkout, with the same naming options as the deploy")
    if value != run.facts.derived:
        return Item("release", title, FAILURE,
                    f"{run.env.shown(key)}, but this checkout's release is {run.facts.derived}",
                    _export_fix(run))
    return Item("release", title, OK, f"{run.env.shown(key)} is this checkout's release")


def check_release_in_sentry(run: Check) -> Item:
    title = "release in Sentry"
    version = app_release(run.env)
    if version is None:
        return _not_checked("release_exists", title, "the app has no RELEASE")
    if not run.facts.org_ok or not run.settings.projects:
        return _not_checked("release_exists", title, "the organization or projects could not be checked")
    if not run.facts.can(RELEASE_READ):
        return _not_checked("release_exists", title, "the token cannot read releases")
    org = run.settings.org
    context = Context(action=f"read release {version} in organization {org}",
                      not_found=f"release {version!r} does not exist in organization {org!r}")
    try:
        data = run.client.get(f"organizations/{seg(org)}/releases/{seg(version)}/", context).data
    except ApiError as exc:
        if exc.status == 404:
            return Item("release_exists", title, FAILURE,
                        f"release {version} (the app's RELEASE) does not exist in Sentry organization {org}",
                        _export_fix(run))
        return _api_failure("release_exists", title, exc, "check the token and SENTRY_ORG")
    attached = {str(p.get("slug")) for p in (data or {}).get("projects") or [] if isinstance(p, dict)}
    missing = [slug for slug in run.settings.projects if slug not in attached]
    if missing:
        return Item("release_exists", title, FAILURE,
                    f"release {version} exists, but not for project {', '.join(missing)}", _export_fix(run))
    return Item("release_exists", title, OK,
                f"release {version} exists for {', '.join(run.settings.projects)}")


def parse_bool(raw: str) -> Optional[bool]:
    text = raw.strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def check_debug(run: Check) -> Item:
    raw = run.env.get("DEBUG")
    if raw is None:
        return Item("debug", "DEBUG", OK, "DEBUG is not set")
    value = parse_bool(raw)
    if value is None:
        return Item("debug", "DEBUG", WARNING, f"{run.env.shown('DEBUG')} is neither true nor false",
                    "set DEBUG=False")
    if value and run.production:
        return Item("debug", "DEBUG", WARNING,
                    f"{run.env.shown('DEBUG')} in production: the guide's settings start Sentry only when "
                    "DEBUG=False, so nothing is reported", "set DEBUG=False in the production .env")
    return Item("debug", "DEBUG", OK, run.env.shown("DEBUG"))


CHECKED_KEYS = ("SENTRY_DSN", "ENVIRONMENT", "SENTRY_ENVIRONMENT", "SENTRY_TRACES_SAMPLE_RATE",
                "SENTRY_SAMPLE_RATE", "RELEASE", "SENTRY_RELEASE", "DEBUG")


def check_env_syntax(run: Check) -> Optional[Item]:
    """Inline comments: python-decouple and django-environ keep them in the value (float() fails)."""
    if run.env.file is None:
        return None
    commented = [f"{key} (line {entry.line})" for key, entry in run.env.entries.items()
                 if key in CHECKED_KEYS and entry.literal != entry.value and "#" in entry.literal]
    if not commented:
        return Item("env_file", ".env syntax", OK, f"{run.env.file}: no inline comments on Sentry keys")
    return Item("env_file", ".env syntax", WARNING,
                f"inline comments on {', '.join(commented)}: python-decouple and django-environ read them as "
                "part of the value", "move each comment to a line of its own")


# -- the test event ----------------------------------------------------------------------------

def send_test_event(run: Check, release: Optional[str]) -> tuple[Item, Optional[str]]:
    title = "test event"
    raw = run.env.get("SENTRY_DSN")
    try:
        dsn = dsn_mod.parse_dsn(raw or "")
    except dsn_mod.BadDsn:
        return Item("test_event", title, FAILURE, "not sent: SENTRY_DSN is missing or malformed",
                    "fix SENTRY_DSN, then run the check again with --send-test-event"), None
    environment = app_environment(run.env) or run.environment
    event = dsn_mod.make_test_event(release, environment)
    try:
        event_id = dsn_mod.send_envelope(dsn, dsn_mod.build_envelope(raw or "", event),
                                         timeout=min(float(run.settings.timeout), 30.0),
                                         ca_bundle=run.settings.ca_bundle)
    except ApiError as exc:
        return Item("test_event", title, FAILURE, f"not delivered to {dsn.describe()}: {exc}",
                    "check SENTRY_DSN (Project Settings → Client Keys) and that the key is enabled"), None
    event_id = event_id or event["event_id"]
    return Item("test_event", title, OK,
                f"event {event_id} sent to project {dsn.project_id} (release {release or '-'}, "
                f"environment {environment or '-'}, tag {dsn_mod.TEST_TAG}=true)"), event_id


# -- the command -------------------------------------------------------------------------------

def run_check_command(load: Callable[..., Any], out: Any, params: dict[str, Any], environment: Optional[str],
                      env_file: Optional[str], send_test_event_flag: bool) -> int:
    cwd = Path.cwd()
    settings = load(params, environment or os.environ.get("SENTRY_ENVIRONMENT"))
    path = find_env_file(env_file, settings, cwd)
    env = AppEnv(path, read_env_file(path) if path else {}, os.environ)
    if not environment:
        own = app_environment(env)
        if own and own != os.environ.get("SENTRY_ENVIRONMENT"):
            settings = load(params, own)   # pick the pyproject section of the app's environment
    for warning in settings.warnings:
        out.log(f"warning: {warning}")
    target = environment or app_environment(env)
    facts = Facts()
    _derive(settings, cwd, facts, out.log)
    option = f" --env-file {path}" if path else " --env-file .env"
    with SentryClient(settings.url, settings.auth_token, timeout=settings.timeout,
                      max_retries=min(int(settings.max_retries), 2), budget=settings.http_budget,
                      ca_bundle=settings.ca_bundle, log=out.debug) as client:
        run = Check(settings, env, target, client, facts, option, out.log)
        items, event_id = run_checks(run, send_test_event_flag)
    report(out, run, items, event_id, bool(params.get("as_json")))
    return 1 if any(item.status == FAILURE for item in items) else 0


def _derive(settings: Any, cwd: Path, facts: Facts, log: Callable[[str], None]) -> None:
    from sentry_release.derive import derive_release

    try:
        derivation = derive_release(settings, cwd, os.environ, log)
    except SentryReleaseError as exc:
        facts.derive_error = str(exc)
        from sentry_release import vcs

        try:
            repo = vcs.open_repo(cwd)
        except SentryReleaseError:
            repo = None
        facts.repo_dir = repo.root if repo is not None else None
        return
    facts.derived, facts.repo_dir = derivation.name, derivation.repo_dir


def run_checks(run: Check, send_event: bool) -> tuple[list[Item], Optional[str]]:
    items = [check_token(run), check_org(run), check_projects(run), check_repository(run),
             check_dsn(run), check_environment(run),
             check_rate(run, "SENTRY_TRACES_SAMPLE_RATE"), check_rate(run, "SENTRY_SAMPLE_RATE"),
             check_release(run), check_release_in_sentry(run), check_debug(run)]
    syntax = check_env_syntax(run)
    if syntax is not None:
        items.append(syntax)
    event_id = None
    if send_event:
        item, event_id = send_test_event(run, app_release(run.env) or run.facts.derived)
        items.append(item)
    return items, event_id


# -- output ------------------------------------------------------------------------------------

_LABEL = {OK: "ok", WARNING: "warning", FAILURE: "FAIL"}


def report(out: Any, run: Check, items: list[Item], event_id: Optional[str], as_json: bool) -> None:
    failures = sum(item.status == FAILURE for item in items)
    warnings = sum(item.status == WARNING for item in items)
    if as_json:
        out.result(json.dumps({
            "ok": failures == 0, "failures": failures, "warnings": warnings,
            "environment": run.environment, "values_from": run.env.describe(),
            "release": run.facts.derived, "test_event_id": event_id,
            "checks": [asdict(item) for item in items],
        }, indent=2))
        return
    out.result(f"Sentry production check for {run.environment or '(no environment)'}; "
               f"app values from {run.env.describe()}")
    width = max(len(item.title) for item in items)
    for item in items:
        out.result(f"  {_LABEL[item.status]:<7}  {item.title:<{width}}  {item.message}")
        if item.fix and item.status != OK:
            out.result(f"  {'':<7}  {'':<{width}}  fix: {item.fix}")
    if event_id:
        out.result(f"test event id: {event_id}")
    verdict = "failed" if failures else "passed"
    out.result(f"check {verdict}: {failures} failure(s), {warnings} warning(s)")
