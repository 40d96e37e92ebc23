"""Where settings come from besides flags and the environment: pyproject.toml, .sentryclirc, the org token.

Each reader returns raw values keyed by setting name, with the label `config` shows as their source;
`config.resolve_settings` parses them and decides precedence.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from sentry_release.errors import ConfigError

BASE_SECTION = "pyproject.toml [tool.sentry-release]"


@dataclass(frozen=True)
class Raw:
    """A value as written in a file, before parsing, and where it was written."""

    value: Any
    label: str       # shown by `config`: "pyproject.toml [tool.sentry-release]"
    where: str       # named in errors: "/repo/pyproject.toml [tool.sentry-release] org"


@dataclass(frozen=True)
class Pyproject:
    path: Optional[Path]
    base: Mapping[str, Any]                          # [tool.sentry-release] without environments
    environments: Mapping[str, Mapping[str, Any]]    # environments.<name> sections


def find_pyproject(start: Path) -> Optional[Path]:
    """The nearest pyproject.toml from `start` upwards, not beyond the repository root."""
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists():
            return None
    return None


def read_pyproject(start: Path) -> Pyproject:
    path = find_pyproject(start)
    if path is None:
        return Pyproject(None, {}, {})
    from sentry_release.versions import read_toml

    section = read_toml(path).get("tool", {}).get("sentry-release", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.sentry-release] must be a table")
    environments = section.get("environments", {})
    if not isinstance(environments, dict) or not all(isinstance(v, dict) for v in environments.values()):
        raise ConfigError(f"{path}: [tool.sentry-release.environments] must hold one table per environment")
    base = {key: value for key, value in section.items() if key != "environments"}
    return Pyproject(path, base, environments)


def section_values(pyproject: Pyproject, environment: Optional[str]) -> dict[str, tuple[str, Any, str, str]]:
    """TOML key -> (toml key, raw value, label, where), the environment's section over the base one."""
    found: dict[str, tuple[str, Any, str, str]] = {}
    sections: list[tuple[str, Mapping[str, Any]]] = [(BASE_SECTION, pyproject.base)]
    if environment and environment in pyproject.environments:
        sections.append((f"pyproject.toml [tool.sentry-release.environments.{environment}]",
                         pyproject.environments[environment]))
    for label, section in sections:
        for toml_key, raw in section.items():
            found[toml_key] = (toml_key, raw, label, f"{label} {toml_key}")
    return found


# sentry-cli's ini names for the settings we share with it
_SENTRYCLIRC_KEYS = {("defaults", "url"): "url", ("defaults", "org"): "org", ("defaults", "project"): "projects",
                     ("defaults", "vcs_remote"): "vcs_remote", ("auth", "token"): "auth_token",
                     ("http", "max_retries"): "max_retries"}


def read_sentryclirc(start: Path) -> dict[str, Raw]:
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
    found: dict[str, Raw] = {}
    for (section, option), name in _SENTRYCLIRC_KEYS.items():
        raw = parser.get(section, option, fallback="").strip()
        if raw:
            found[name] = Raw(raw, f".sentryclirc [{section}] {option}", f"{path} [{section}] {option}")
    return found


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


def token_values(payload: Mapping[str, Any]) -> dict[str, str]:
    """What an org token's payload says about the org and the API base."""
    # region_url is where this org's API lives (us.sentry.io, de.sentry.io); url is the web UI
    values: dict[str, str] = {}
    if payload.get("org"):
        values["org"] = str(payload["org"])
    url = payload.get("region_url") or payload.get("url")
    if url:
        values["url"] = str(url).rstrip("/")
    return values
