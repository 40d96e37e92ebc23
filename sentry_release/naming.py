"""Release names: render a template from facts, and check names against Sentry's rules.

Pure functions only: no git, no network, no files.
"""

from __future__ import annotations

import re
import string
from typing import Mapping, Optional

from sentry_release.errors import ConfigError, InvalidName

DEFAULT_TEMPLATE = "v{version}-{date}"
PLACEHOLDERS = ("version", "date", "sha", "short_sha", "branch", "build", "package")

MAX_RELEASE_LENGTH = 200
# Sentry's BAD_RELEASE_CHARS: CR, LF, form feed, TAB, slash, backslash.
_BAD_RELEASE_CHARS = {"\r": "a carriage return", "\n": "a newline", "\f": "a form feed",
                      "\t": "a tab", "/": "'/'", "\\": "'\\'"}
_RESERVED_NAMES = (".", "..")

MAX_ENVIRONMENT_LENGTH = 64
_BAD_ENVIRONMENT_CHARS = {"\n": "a newline", "\r": "a carriage return", "\f": "a form feed", "/": "'/'"}


def validate_release(name: str) -> str:
    """Return `name` unchanged if Sentry would accept it as a release version, else raise."""
    if name == "":
        raise InvalidName("release name is empty: set --release, SENTRY_RELEASE or a template")
    if len(name) > MAX_RELEASE_LENGTH:
        raise InvalidName(
            f"release name is {len(name)} characters; Sentry allows at most {MAX_RELEASE_LENGTH}"
        )
    for char, label in _BAD_RELEASE_CHARS.items():
        if char in name:
            raise InvalidName(
                f"release name {name!r} contains {label}; Sentry forbids slashes, tabs and line breaks"
            )
    stripped = name.strip()
    if not stripped:
        raise InvalidName("release name is only whitespace")
    if stripped in _RESERVED_NAMES or stripped.lower() == "latest":
        raise InvalidName(f"release name {name!r} is reserved by Sentry; choose another")
    if stripped != name:
        raise InvalidName(
            f"release name {name!r} has leading or trailing whitespace; Sentry would keep it, remove it"
        )
    return name


def validate_environment(name: str) -> str:
    """Return the environment name as Sentry stores it (trimmed), or raise if Sentry would refuse it."""
    trimmed = name.strip()
    if not trimmed:
        raise InvalidName("environment is empty: pass --environment (e.g. production)")
    if len(trimmed) > MAX_ENVIRONMENT_LENGTH:
        raise InvalidName(
            f"environment {trimmed!r} is {len(trimmed)} characters; Sentry allows at most {MAX_ENVIRONMENT_LENGTH}"
        )
    for char, label in _BAD_ENVIRONMENT_CHARS.items():
        if char in trimmed:
            raise InvalidName(f"environment {trimmed!r} contains {label}; Sentry forbids it")
    return trimmed


def sanitize_branch(branch: str) -> str:
    """Make a branch name usable inside a release name: `feature/x` becomes `feature-x`."""
    cleaned = re.sub(r"[/\\\s]+", "-", branch.strip())
    return cleaned.strip("-")


def template_fields(template: str) -> list[str]:
    """The placeholder names a template uses; raises ConfigError for unknown or malformed ones."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"release template {template!r} is malformed: {exc}") from None
    fields = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            allowed = " ".join("{%s}" % p for p in PLACEHOLDERS)
            raise ConfigError(
                f"release template {template!r} uses {{{field}}}; allowed placeholders: {allowed}"
            )
        fields.append(field)
    return fields


def render_release(template: str, facts: Mapping[str, Optional[str]]) -> str:
    """Fill the template from facts; a placeholder without a value is a configuration error."""
    values = {}
    for field in template_fields(template):
        value = facts.get(field)
        if value is None or value == "":
            raise ConfigError(f"release template {template!r} needs {{{field}}}, but {_why_missing(field)}")
        values[field] = value
    return template.format(**values)


def _why_missing(field: str) -> str:
    return {
        "version": "no base version was found (tag, pyproject.toml, setup.cfg, package.json, VERSION); "
        "pass --base-version",
        "date": "no date is known",
        "sha": "there is no git commit here",
        "short_sha": "there is no git commit here",
        "branch": "the branch is unknown (detached HEAD outside CI)",
        "build": "no CI run or pipeline number is known",
        "package": "no package name was found in pyproject.toml, setup.cfg or package.json",
    }[field]


def parse_tag_version(tag: str) -> Optional[str]:
    """The normalised base version a tag names (`v1.2.3`, `1.2.3`, `app-v1.2.3`), or None."""
    from packaging.version import InvalidVersion, Version

    for candidate in _tag_candidates(tag):
        try:
            return str(Version(candidate))
        except InvalidVersion:
            continue
    return None


def _tag_candidates(tag: str) -> list[str]:
    # Try the whole tag, then each suffix after a separator, so `app-v1.2.3` and
    # `release/1.2.3` work while `v1.2.3-rc1` keeps its pre-release part.
    candidates = [tag]
    for match in re.finditer(r"[-_/@]", tag):
        candidates.append(tag[match.end():])
    return [c for c in candidates if c[:1].isdigit() or (c[:1] in "vV" and c[1:2].isdigit())]
