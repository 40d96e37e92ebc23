"""One settings object; every value remembers where it came from.

Precedence: command-line flag > environment variable > pyproject.toml
([tool.sentry-release], then its environments.<name> section) > org auth token payload > default.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from sentry_release.budget import DEFAULT_BUDGET_SECONDS
from sentry_release.errors import ConfigError
from sentry_release.naming import DEFAULT_TEMPLATE

DEFAULT_URL = "https://sentry.io"


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str


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


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{raw!r} is not true or false")


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


def _split_list(raw: Any) -> list[str]:
    """A list, or a string of comma- or space-separated words; each item may hold commas too."""
    if isinstance(raw, (list, tuple)):
        if not all(isinstance(item, str) for item in raw):
            raise ValueError(f"{list(raw)!r} must be a list of text")
        raw = " ".join(raw)
    elif not isinstance(raw, str):
        raise ValueError(f"{raw!r} must be text or a list of text")
    return [item for item in raw.replace(",", " ").split() if item]


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


@dataclass(frozen=True)
class Key:
    name: str
    env: tuple[str, ...] = ()
    toml: Optional[str] = None
    default: Any = None
    parse: Callable[[Any], Any] = _text
    secret: bool = False


KEYS: tuple[Key, ...] = (
    Key("url", ("SENTRY_URL",), "url", DEFAULT_URL, _url),
    Key("auth_token", ("SENTRY_AUTH_TOKEN",), None, None, _token, secret=True),
    Key("org", ("SENTRY_ORG",), "org"),
    Key("projects", ("SENTRY_PROJECT",), "projects", (), _split_list),
    Key("release", ("SENTRY_RELEASE",), None),
    Key("release_prefix", (), "release-prefix", ""),
    Key("template", (), "template", DEFAULT_TEMPLATE),
    Key("base_version", (), "base-version"),
    Key("version_source", (), "version-source", "auto",
        _choice("auto", "tag", "pyproject", "setup.cfg", "package.json", "version")),
    Key("date_source", (), "date-source", "commit", _choice("commit", "now", "pipeline")),
    Key("vcs_remote", ("SENTRY_VCS_REMOTE",), "vcs-remote", "origin"),
    Key("fetch", (), "fetch", True, _bool),
    Key("commits", (), "commits", "auto", _choice("auto", "local", "skip")),
    Key("initial_depth", (), "initial-depth", 20, _positive_int),
    Key("paths", (), "paths", (), _split_list),
    Key("ignore_missing", (), "ignore-missing", False, _bool),
    Key("finalize", (), "finalize", True, _bool),
    Key("deploy_url", (), "deploy-url"),
    Key("env_file", (), "env-file"),
    Key("env_keys", (), "env-keys", ("RELEASE",), _split_list),
    Key("dotenv", (), "dotenv", "sentry-release.env"),
    Key("max_retries", ("SENTRY_HTTP_MAX_RETRIES",), "http-max-retries", 5, _positive_int),
    Key("timeout", ("SENTRY_HTTP_TIMEOUT",), "http-timeout", 30.0, _positive_float),
    Key("http_budget", ("SENTRY_HTTP_BUDGET",), "http-budget", DEFAULT_BUDGET_SECONDS, _positive_float),
    Key("ca_bundle", ("SENTRY_CA_BUNDLE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"), "ca-bundle"),
)
_BY_NAME = {key.name: key for key in KEYS}
_TOML_KEYS = {key.toml: key for key in KEYS if key.toml}


def mask_token(token: Optional[str]) -> Optional[str]:
    """A token shown to people: its kind, never its secret."""
    if not token:
        return None
    for prefix in ("sntrys_", "sntryu_", "sntrya_", "sntryi_"):
        if token.startswith(prefix):
            return f"{prefix}***"
    return "***"


def parse_org_token(token: Optional[str]) -> Optional[dict[str, Any]]:
    """The payload of an org auth token (`sntrys_<base64 JSON>_<secret>`), or None."""
    if not token or not token.startswith("sntrys_") or token.count("_") != 2:
        return None
    encoded = token.split("_")[1]
    try:
        payload = json.loads(base64.b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(payload, dict) or not payload.get("iat"):
        return None
    return payload


class Settings:
    """Effective configuration. Attribute access gives values; `source(name)` tells where from."""

    def __init__(self, values: Mapping[str, Setting], warnings: list[str], pyproject: Optional[Path]) -> None:
        self._values = dict(values)
        self.warnings = warnings
        self.pyproject = pyproject

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name].value
        except KeyError:
            raise AttributeError(name) from None

    def source(self, name: str) -> str:
        return self._values[name].source

    def with_value(self, name: str, value: Any, source: str) -> "Settings":
        values = dict(self._values)
        values[name] = Setting(value, source)
        return Settings(values, self.warnings, self.pyproject)

    def describe(self) -> dict[str, dict[str, Any]]:
        """Every effective value with its source, the token masked."""
        shown: dict[str, dict[str, Any]] = {}
        for name, setting in self._values.items():
            value = mask_token(setting.value) if _BY_NAME.get(name, Key(name)).secret else setting.value
            if isinstance(value, tuple):
                value = list(value)
            shown[name] = {"value": value, "source": setting.source}
        return shown


def find_pyproject(start: Path) -> Optional[Path]:
    """The nearest pyproject.toml from `start` upwards, not beyond the repository root."""
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists():
            return None
    return None


def _tool_section(pyproject: Optional[Path]) -> dict[str, Any]:
    if pyproject is None:
        return {}
    from sentry_release.versions import read_toml

    section = read_toml(pyproject).get("tool", {}).get("sentry-release", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{pyproject}: [tool.sentry-release] must be a table")
    return section


def _toml_layer(section: Mapping[str, Any], label: str, allow_environments: bool) -> dict[str, Setting]:
    layer: dict[str, Setting] = {}
    for toml_key, raw in section.items():
        if toml_key == "environments" and allow_environments:
            continue
        key = _TOML_KEYS.get(toml_key)
        if key is None:
            allowed = ", ".join(sorted(_TOML_KEYS))
            raise ConfigError(f"{label}: unknown key {toml_key!r}; known keys: {allowed}")
        layer[key.name] = Setting(_parse(key, raw, f"{label} {toml_key}"), label)
    return layer


def _parse(key: Key, raw: Any, where: str) -> Any:
    try:
        return key.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    project_dir: Path,
    environment: Optional[str] = None,
) -> Settings:
    """Resolve every key. `flags` maps key names to command-line values (None when not given)."""
    pyproject = find_pyproject(project_dir)
    section = _tool_section(pyproject)
    file_layer = _toml_layer(section, "pyproject.toml [tool.sentry-release]", allow_environments=True)
    env_sections = section.get("environments", {})
    if not isinstance(env_sections, dict) or not all(isinstance(v, dict) for v in env_sections.values()):
        raise ConfigError(f"{pyproject}: [tool.sentry-release.environments] must hold one table per environment")
    warnings: list[str] = []
    if environment and environment in env_sections:
        label = f"pyproject.toml [tool.sentry-release.environments.{environment}]"
        file_layer.update(_toml_layer(env_sections[environment], label, allow_environments=False))
    elif environment and env_sections:
        warnings.append(f"pyproject.toml has no section for environment {environment!r} "
                        f"(known: {', '.join(sorted(env_sections))}); using the base settings")

    file_layer = {**sentryclirc_layer(project_dir), **file_layer}

    values: dict[str, Setting] = {}
    for key in KEYS:
        values[key.name] = _resolve(key, flags, environ, file_layer)

    payload = parse_org_token(values["auth_token"].value)
    if payload:
        _apply_token(values, payload, warnings)
    return Settings(values, warnings, pyproject)


# sentry-cli's ini names for the settings we share with it
_SENTRYCLIRC_KEYS = {("defaults", "url"): "url", ("defaults", "org"): "org", ("defaults", "project"): "projects",
                     ("defaults", "vcs_remote"): "vcs_remote", ("auth", "token"): "auth_token",
                     ("http", "max_retries"): "max_retries"}


def sentryclirc_layer(start: Path) -> dict[str, Setting]:
    """Settings from the nearest `.sentryclirc` at or above `start`, for sentry-cli users."""
    import configparser

    path = next((folder / ".sentryclirc" for folder in [start, *start.parents]
                 if (folder / ".sentryclirc").is_file()), None)
    if path is None:
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} cannot be parsed: {str(exc).splitlines()[0]}") from None
    layer: dict[str, Setting] = {}
    for (section, option), name in _SENTRYCLIRC_KEYS.items():
        raw = parser.get(section, option, fallback="").strip()
        if raw:
            label = f".sentryclirc [{section}] {option}"
            layer[name] = Setting(_parse(_BY_NAME[name], raw, f"{path} [{section}] {option}"), label)
    return layer


def _resolve(key: Key, flags: Mapping[str, Any], environ: Mapping[str, str], file_layer: Mapping[str, Setting]) -> Setting:
    flag_value = flags.get(key.name)
    if flag_value not in (None, (), []):
        flag = "--" + key.name.replace("_", "-")
        return Setting(_parse(key, flag_value, flag), flag)
    for var in key.env:
        if environ.get(var, "").strip():
            return Setting(_parse(key, environ[var], f"${var}"), f"${var}")
    if key.name in file_layer:
        return file_layer[key.name]
    return Setting(key.default, "default")


def _apply_token(values: dict[str, Setting], payload: Mapping[str, Any], warnings: list[str]) -> None:
    # region_url is where this org's API lives (us.sentry.io, de.sentry.io); url is the web UI
    for name, field in (("org", "org"), ("url", "region_url" if payload.get("region_url") else "url")):
        embedded = payload.get(field)
        if not embedded:
            continue
        current = values[name]
        if current.source == "default" or current.value in (None, ""):
            values[name] = Setting(str(embedded).rstrip("/") if name == "url" else str(embedded), "org auth token")
        elif str(current.value).rstrip("/") != str(embedded).rstrip("/"):
            warnings.append(
                f"{name} {current.value!r} (from {current.source}) differs from {embedded!r} embedded in the "
                f"org auth token; the token only works for its own {'organization' if name == 'org' else 'server'}"
            )
