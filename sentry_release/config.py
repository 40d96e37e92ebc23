"""One typed, frozen settings object, built once per command; every value remembers where it came from.

Precedence, written down once (`resolve_settings`):
command-line flag > environment variable > pyproject.toml ([tool.sentry-release], then its
environments.<name> section) > .sentryclirc > org auth token payload > the CI run's facts > default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from sentry_release import config_files
from sentry_release.booleans import parse_bool
from sentry_release.budget import DEFAULT_BUDGET_SECONDS
from sentry_release.ci import CIFacts, detect_ci
from sentry_release.errors import ConfigError, UsageError
from sentry_release.naming import DEFAULT_TEMPLATE, validate_environment

DEFAULT_URL = "https://sentry.io"


def _positive_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a whole number")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{raw!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"{raw!r} is negative")
    return value


def _positive_float(raw: Any) -> float:
    import math

    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{raw!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{raw!r} must be a finite number above zero")
    return value


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        value = str(raw).strip().lower()
        if value not in choices:
            raise ValueError(f"{raw!r} is not one of {', '.join(choices)}")
        return value
    return parse


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not text; quote it")
    return raw


def _split_list(raw: Any) -> tuple[str, ...]:
    """A list, or a string of comma- or space-separated words; each item may hold commas too."""
    if isinstance(raw, (list, tuple)):
        if not all(isinstance(item, str) for item in raw):
            raise ValueError(f"{list(raw)!r} must be a list of text")
        raw = " ".join(raw)
    elif not isinstance(raw, str):
        raise ValueError(f"{raw!r} must be text or a list of text")
    return tuple(item for item in raw.replace(",", " ").split() if item)


def _token(raw: Any) -> str:
    token = _text(raw).strip()  # a trailing newline from a secrets file is not part of the token
    if not token.isascii() or any(char.isspace() or not char.isprintable() for char in token):
        raise ValueError("contains spaces or characters a token never has; copy the token again")
    return token


def _url(raw: Any) -> str:
    from urllib.parse import urlsplit

    text = _text(raw).strip()
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise ValueError(f"{text!r} has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not an http(s) URL such as https://sentry.example.com")
    path = parts.path.rstrip("/")
    if path.endswith("/api/0"):  # people paste the API base; we add it ourselves
        path = path[: -len("/api/0")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _watch_interval(raw: Any) -> float:
    from sentry_release.units import parse_interval

    return parse_interval(raw)


def _percent(raw: Any) -> float:
    from sentry_release.units import parse_percent

    return parse_percent(raw)


@dataclass(frozen=True)
class Key:
    name: str
    env: tuple[str, ...] = ()
    toml: Optional[str] = None
    default: Any = None
    parse: Callable[[Any], Any] = _text
    secret: bool = False
    flag: Optional[str] = None          # the command-line spelling, when not --<name>

    @property
    def flag_name(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


KEYS: tuple[Key, ...] = (
    Key("url", ("SENTRY_URL",), "url", DEFAULT_URL, _url),
    Key("auth_token", ("SENTRY_AUTH_TOKEN",), None, None, _token, secret=True),
    Key("org", ("SENTRY_ORG",), "org"),
    Key("projects", ("SENTRY_PROJECT",), "projects", (), _split_list, flag="--project"),
    Key("environment", ("SENTRY_ENVIRONMENT",), None),
    Key("release", ("SENTRY_RELEASE",), None),
    Key("release_prefix", (), "release-prefix", ""),
    Key("template", (), "template", DEFAULT_TEMPLATE),
    Key("base_version", (), "base-version"),
    Key("version_source", (), "version-source", "auto",
        _choice("auto", "tag", "pyproject", "setup.cfg", "package.json", "version")),
    Key("date_source", (), "date-source", "commit", _choice("commit", "now", "pipeline")),
    Key("vcs_remote", ("SENTRY_VCS_REMOTE",), "vcs-remote", "origin"),
    Key("fetch", (), "fetch", True, parse_bool, flag="--no-fetch"),
    Key("commits", (), "commits", "auto", _choice("auto", "local", "skip")),
    Key("initial_depth", (), "initial-depth", 20, _positive_int),
    Key("paths", (), "paths", (), _split_list, flag="--path"),
    Key("ignore_missing", (), "ignore-missing", False, parse_bool),
    Key("finalize", (), "finalize", True, parse_bool),
    Key("deploy_name", (), None),
    Key("deploy_url", (), "deploy-url"),
    Key("env_file", (), "env-file"),
    Key("env_keys", (), "env-keys", ("RELEASE",), _split_list, flag="--env-key"),
    Key("dotenv", (), "dotenv"),
    Key("production_environments", (), "production-environments", ("production",), _split_list),
    Key("env_reader", (), "env-reader", "auto",
        _choice("auto", "django-environ", "python-decouple", "python-dotenv")),
    Key("max_retries", ("SENTRY_HTTP_MAX_RETRIES",), "http-max-retries", 5, _positive_int, flag="--http-max-retries"),
    Key("timeout", ("SENTRY_HTTP_TIMEOUT",), "http-timeout", 30.0, _positive_float, flag="--http-timeout"),
    Key("http_budget", ("SENTRY_HTTP_BUDGET",), "http-budget", DEFAULT_BUDGET_SECONDS, _positive_float,
        flag="--http-budget"),
    # watch defaults, reasons in docs/ci.md "Watch": 2 reads per 30 s stay far under rate limits;
    # a healthy deploy still regroups a few errors into new issues; healthy apps are > 99 % crash-free
    Key("watch_interval", (), "watch-interval", 30.0, _watch_interval, flag="--interval"),
    Key("watch_max_new_issues", (), "watch-max-new-issues", 3, _positive_int, flag="--max-new-issues"),
    Key("watch_min_crash_free", (), "watch-min-crash-free", 99.0, _percent, flag="--min-crash-free"),
    Key("ca_bundle", ("SENTRY_CA_BUNDLE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"), "ca-bundle"),
    Key("pipeline", ("SENTRY_PIPELINE",), None),
)
_BY_NAME = {key.name: key for key in KEYS}
_TOML_KEYS = {key.toml: key for key in KEYS if key.toml}
GITLAB_DOTENV_DEFAULT = "sentry-release.env"


@dataclass(frozen=True)
class Settings:
    """Effective configuration of one command. `source(name)` tells where a value came from."""

    url: str
    auth_token: Optional[str]
    org: Optional[str]
    projects: tuple[str, ...]
    environment: Optional[str]
    release: Optional[str]
    release_prefix: str
    template: str
    base_version: Optional[str]
    version_source: str
    date_source: str
    vcs_remote: str
    fetch: bool
    commits: str
    initial_depth: int
    paths: tuple[str, ...]
    ignore_missing: bool
    finalize: bool
    deploy_name: Optional[str]
    deploy_url: Optional[str]
    env_file: Optional[str]
    env_keys: tuple[str, ...]
    dotenv: Optional[str]              # the GitLab dotenv report; None outside GitLab unless asked for
    max_retries: int
    timeout: float
    http_budget: float                 # seconds for all of the run's requests to Sentry together
    ca_bundle: Optional[str]
    pipeline: Optional[str]            # SENTRY_PIPELINE: names the CI integration in the User-Agent
    watch_interval: float
    watch_max_new_issues: int
    watch_min_crash_free: float
    production_environments: tuple[str, ...]
    env_reader: str                    # the app's .env reader, for `check`: auto or one of the three
    ci: CIFacts = field(default_factory=CIFacts)
    project_dir: Path = Path(".")
    pyproject: Optional[Path] = None
    known_environments: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)

    def source(self, name: str) -> str:
        return self.sources.get(name, "default")

    def describe(self) -> dict[str, dict[str, Any]]:
        """Every effective value with its source, the token masked."""
        shown: dict[str, dict[str, Any]] = {}
        for key in KEYS:
            value = getattr(self, key.name)
            if key.secret:
                value = mask_token(value)
            shown[key.name] = {"value": list(value) if isinstance(value, tuple) else value,
                               "source": self.source(key.name)}
        return shown


def mask_token(token: Optional[str]) -> Optional[str]:
    """A token shown to people: its kind, never its secret."""
    if not token:
        return None
    for prefix in ("sntrys_", "sntryu_", "sntrya_", "sntryi_"):
        if token.startswith(prefix):
            return f"{prefix}***"
    return "***"


@dataclass(frozen=True)
class _Value:
    value: Any
    source: str


def resolve_settings(flags: Mapping[str, Any], environ: Mapping[str, str], project_dir: Path) -> Settings:
    """Every setting from `flags` (setting name -> command-line value, None when not given),
    `environ`, the CI run, pyproject.toml, .sentryclirc and the org token, in that precedence."""
    ci = detect_ci(environ)
    pyproject = config_files.read_pyproject(project_dir)
    environment = _environment(flags, environ, ci)
    known = tuple(sorted(pyproject.environments))
    if environment.value and known and environment.value not in known:
        raise UsageError(
            f"environment {environment.value!r} (from {environment.source}) has no section in "
            f"{pyproject.path}; known: {', '.join(known)} (add an empty "
            f"[tool.sentry-release.environments.{environment.value}] to declare it)")
    files = _file_layer(pyproject, project_dir, environment.value)

    values: dict[str, _Value] = {"environment": environment}
    for key in KEYS:
        if key.name not in values:
            values[key.name] = _resolve(key, flags, environ, files)
    warnings: list[str] = []
    payload = config_files.parse_org_token(values["auth_token"].value)
    if payload:
        _apply_token(values, config_files.token_values(payload), warnings)
    _apply_ci(values, ci, flags)
    return Settings(
        **{name: item.value for name, item in values.items()},
        ci=ci, project_dir=project_dir, pyproject=pyproject.path, known_environments=known,
        warnings=tuple(warnings), sources={name: item.source for name, item in values.items()},
    )


def _environment(flags: Mapping[str, Any], environ: Mapping[str, str], ci: CIFacts) -> _Value:
    """flag > $SENTRY_ENVIRONMENT > the CI's environment name; trimmed and checked as Sentry would."""
    for raw, source in ((flags.get("environment"), "--environment"),
                        (environ.get("SENTRY_ENVIRONMENT"), "$SENTRY_ENVIRONMENT"),
                        (ci.environment, f"{ci.provider} CI environment")):
        if raw is not None and str(raw).strip():
            return _Value(validate_environment(str(raw)), source)
        if raw is not None and source == "--environment":
            validate_environment(str(raw))  # an explicit empty -e is an error, not "none"
    return _Value(None, "default")


def _file_layer(pyproject: config_files.Pyproject, project_dir: Path,
                environment: Optional[str]) -> dict[str, _Value]:
    layer: dict[str, _Value] = {}
    for name, raw in config_files.read_sentryclirc(project_dir).items():
        layer[name] = _Value(_parse(_BY_NAME[name], raw.value, raw.where), raw.label)
    for toml_key, raw, label, where in config_files.section_values(pyproject, environment).values():
        key = _TOML_KEYS.get(toml_key)
        if key is None:
            allowed = ", ".join(sorted(_TOML_KEYS))
            raise ConfigError(f"{label}: unknown key {toml_key!r}; known keys: {allowed}")
        layer[key.name] = _Value(_parse(key, raw, where), label)
    return layer


def _parse(key: Key, raw: Any, where: str) -> Any:
    try:
        return key.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _resolve(key: Key, flags: Mapping[str, Any], environ: Mapping[str, str],
             files: Mapping[str, _Value]) -> _Value:
    flag_value = flags.get(key.name)
    if flag_value not in (None, (), []):
        return _Value(_parse(key, flag_value, key.flag_name), key.flag_name)
    for var in key.env:
        if environ.get(var, "").strip():
            return _Value(_parse(key, environ[var], f"${var}"), f"${var}")
    if key.name in files:
        return files[key.name]
    return _Value(key.default, "default")


def _apply_token(values: dict[str, _Value], embedded: Mapping[str, str], warnings: list[str]) -> None:
    for name, value in embedded.items():
        current = values[name]
        if current.source == "default" or current.value in (None, ""):
            values[name] = _Value(value, "org auth token")
        elif str(current.value).rstrip("/") != value.rstrip("/"):
            warnings.append(
                f"{name} {current.value!r} (from {current.source}) differs from {value!r} embedded in the "
                f"org auth token; the token only works for its own {'organization' if name == 'org' else 'server'}"
            )


def _apply_ci(values: dict[str, _Value], ci: CIFacts, flags: Mapping[str, Any]) -> None:
    """The CI run's facts fill what nothing else set: deploy name and URL, the GitLab dotenv report."""
    if values["deploy_name"].value is None and ci.deploy_name:
        values["deploy_name"] = _Value(ci.deploy_name, f"{ci.provider} CI run id")
    if values["deploy_url"].value is None:
        if ci.environment_url:
            values["deploy_url"] = _Value(ci.environment_url, f"{ci.provider} CI environment URL")
        elif ci.run_url:
            values["deploy_url"] = _Value(ci.run_url, f"{ci.provider} CI run URL")
    dotenv = values["dotenv"]
    if ci.provider == "gitlab" and dotenv.value is None:
        values["dotenv"] = _Value(GITLAB_DOTENV_DEFAULT, "default in GitLab CI")
    elif ci.provider != "gitlab" and dotenv.value is not None and flags.get("dotenv") is None:
        values["dotenv"] = _Value(None, f"not in GitLab CI ({dotenv.source} names {dotenv.value})")
