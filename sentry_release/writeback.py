"""Write the release name back into the deploy environment.

Targets: an app's ``.env`` file, GitHub Actions' ``$GITHUB_ENV`` / ``$GITHUB_OUTPUT`` /
``$GITHUB_STEP_SUMMARY`` files, a GitLab dotenv report, and stdout formats.

The ``.env`` edits live in ``envfile`` (one model of the file, shared with ``check``): every
value written is in a form python-dotenv, python-decouple and django-environ all read back
identically, or the write is refused; every assignment of a key is replaced, so no reader can
pick up a stale value whichever occurrence it honours.

Only the standard library is imported: this module loads at CLI start-up.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Sequence

from sentry_release.atomicfile import atomic_write, read_bytes_if_exists
from sentry_release.envfile import ENV_KEY as _ENV_KEY
from sentry_release.envfile import check_key, render_value, restore_env_file, update_env_file
from sentry_release.errors import UsageError, WriteBackError

if TYPE_CHECKING:
    from sentry_release.config import Settings

__all__ = [
    "update_env_file",
    "restore_env_file",
    "write_github_env",
    "write_github_output",
    "append_github_summary",
    "write_gitlab_dotenv",
    "render_values",
    "targets_for",
    "check_targets",
    "write_release",
]

GITLAB_DOTENV_MAX_BYTES = 5 * 1024

_GITLAB_KEY = re.compile(r"[A-Za-z0-9_]+")


# ---------------------------------------------------------------- validation


def _check_key(key: str, pattern: re.Pattern[str] = _ENV_KEY) -> None:
    if pattern is _ENV_KEY:
        check_key(key)
    elif not isinstance(key, str) or not pattern.fullmatch(key):
        raise UsageError(f"invalid variable name {key!r}: use only ASCII letters, digits and underscores")


def _validated(values: Mapping[str, str], pattern: re.Pattern[str] = _ENV_KEY) -> dict[str, str]:
    for key, value in values.items():
        _check_key(key, pattern)
        if not isinstance(value, str):
            raise UsageError(f"value for {key} must be a string, not {type(value).__name__}")
    return dict(values)


# ---------------------------------------------------------------- GitHub Actions files


def _github_delimiter(value: str) -> str:
    while True:
        delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
        if delimiter not in value:
            return delimiter


def _github_entry(key: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        # A fresh random delimiter: a fixed one could be closed early by the value itself.
        delimiter = _github_delimiter(value)
        return f"{key}<<{delimiter}\n{value}\n{delimiter}\n"
    return f"{key}={value}\n"


def _github_entries(values: Mapping[str, str]) -> str:
    values = _validated(values)
    for key, value in values.items():
        if "\x00" in value:
            raise UsageError(f"value for {key} contains a NUL character, which GitHub cannot store")
    return "".join(_github_entry(key, value) for key, value in values.items())


def _append_text(path: Path, text: str) -> None:
    if not text:
        return
    try:
        # One write on an O_APPEND stream, so concurrent appenders cannot interleave mid-entry.
        with open(path, "ab") as stream:
            stream.write(text.encode("utf-8"))
    except OSError as exc:
        raise WriteBackError(f"cannot append to {path}: {exc.strerror or exc}") from exc


def write_github_env(path: Path, values: Mapping[str, str]) -> None:
    """Append `values` to $GITHUB_ENV: later steps of the job see them as variables."""
    _append_text(path, _github_entries(values))


def write_github_output(path: Path, values: Mapping[str, str]) -> None:
    """Append `values` to $GITHUB_OUTPUT as step outputs."""
    _append_text(path, _github_entries(values))


def append_github_summary(path: Path, markdown: str) -> None:
    """Append Markdown to $GITHUB_STEP_SUMMARY, ending it with a newline."""
    if markdown and not markdown.endswith("\n"):
        markdown += "\n"
    _append_text(path, markdown)


# ---------------------------------------------------------------- GitLab dotenv report


def _check_gitlab_value(key: str, value: str) -> None:
    for character, why in (
        ("\n", "newlines"),
        ("\r", "carriage returns"),
        (" ", "spaces"),
        ("\t", "tabs"),
        ("'", "quotes (GitLab keeps them as part of the value)"),
        ('"', "quotes (GitLab keeps them as part of the value)"),
        ("#", "'#' (GitLab does not support comments)"),
        ("\x00", "NUL characters"),
    ):
        if character in value:
            raise UsageError(f"value for {key} contains {why}, which a GitLab dotenv report cannot hold")


def _read_gitlab_dotenv(path: Path) -> dict[str, str]:
    text = (read_bytes_if_exists(path) or b"").decode("utf-8", "replace")
    if not text:
        return {}
    entries: dict[str, str] = {}
    for number, line in enumerate(text.removesuffix("\n").split("\n"), start=1):
        key, sep, value = line.partition("=")
        if not sep or not _GITLAB_KEY.fullmatch(key):
            raise UsageError(
                f"{path} line {number} is not KEY=value as a GitLab dotenv report requires; fix or remove it"
            )
        entries[key] = value
    return entries


def write_gitlab_dotenv(path: Path, values: Mapping[str, str]) -> None:
    """Set `values` in a GitLab dotenv report, keeping the file's other keys and their order."""
    values = _validated(values, _GITLAB_KEY)
    for key, value in values.items():
        _check_gitlab_value(key, value)
    target = Path(os.path.realpath(path))
    merged = _read_gitlab_dotenv(target)
    merged.update(values)
    data = "".join(f"{key}={value}\n" for key, value in merged.items()).encode("utf-8")
    if len(data) > GITLAB_DOTENV_MAX_BYTES:
        raise UsageError(
            f"the dotenv report {path} would be {len(data)} bytes; GitLab accepts at most "
            f"{GITLAB_DOTENV_MAX_BYTES}: write fewer or shorter values"
        )
    atomic_write(target, data)


# ---------------------------------------------------------------- stdout formats


def _render_shell(values: Mapping[str, str]) -> str:
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in values.items())


def _render_json(values: Mapping[str, str]) -> str:
    return json.dumps(dict(values), ensure_ascii=False) + "\n"


def _render_dotenv(values: Mapping[str, str]) -> str:
    return "".join(f"{key}={render_value(key, value)}\n" for key, value in values.items())


_RENDERERS = {"shell": _render_shell, "json": _render_json, "dotenv": _render_dotenv}


def render_values(values: Mapping[str, str], fmt: str) -> str:
    """`values` as text for stdout: "shell" (export lines), "json" (one object) or "dotenv"."""
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(_RENDERERS)}")
    values = _validated(values)
    if fmt == "shell":
        for key, value in values.items():
            if "\x00" in value:
                raise UsageError(f"value for {key} contains a NUL character, which a shell cannot hold")
    return renderer(values)


# ---------------------------------------------------------------- targets of one command


@dataclass(frozen=True)
class Target:
    """One file the write-back touches, named as the user knows it."""

    kind: str        # "env-file" | "github-env" | "github-output" | "github-summary" | "gitlab-dotenv"
    label: str       # ".env.staging", "$GITHUB_ENV", "the dotenv report sentry-release.env"
    path: Path


@dataclass(frozen=True)
class ReleaseOutputs:
    """What the write-back says about the release: the name, and for GitHub the step's outputs and,
    after a deploy, its summary."""

    release: str
    release_url: str = ""
    commits: int = 0
    deploy_id: Optional[str] = None
    deploy: Optional["DeploySummary"] = None   # None: no deploy (export), so no step summary


@dataclass(frozen=True)
class DeploySummary:
    projects: Sequence[str]
    environment: str
    commits_source: str
    previous_release: Optional[str]
    deploy_created: bool


def summary_markdown(outputs: ReleaseOutputs, deploy: DeploySummary) -> str:
    """The step summary of a deploy: the release link and what was recorded."""
    recorded = (f"recorded (id {outputs.deploy_id})" if deploy.deploy_created
                else f"already recorded (id {outputs.deploy_id})" if outputs.deploy_id else "not recorded")
    return (f"### Sentry release [{outputs.release}]({outputs.release_url})\n\n"
            f"| | |\n|---|---|\n| Projects | {', '.join(deploy.projects)} |\n"
            f"| Environment | {deploy.environment} |\n| Commits | {outputs.commits} ({deploy.commits_source}) |\n"
            f"| Previous release | {deploy.previous_release or 'none'} |\n| Deploy | {recorded} |\n")


def targets_for(settings: "Settings") -> list[Target]:
    """Every file the write-back will touch for these settings and this CI run."""
    found: list[Target] = []
    if settings.env_file:
        found.append(Target("env-file", settings.env_file, Path(settings.env_file)))
    ci = settings.ci
    for kind, label, value in (("github-env", "$GITHUB_ENV", ci.github_env),
                               ("github-output", "$GITHUB_OUTPUT", ci.github_output),
                               ("github-summary", "$GITHUB_STEP_SUMMARY", ci.github_summary)):
        if value:
            found.append(Target(kind, f"{label} ({value})", Path(value)))
    if settings.dotenv:
        found.append(Target("gitlab-dotenv", f"the dotenv report {settings.dotenv}", Path(settings.dotenv)))
    return found


def check_targets(targets: Sequence[Target]) -> None:
    """Fail before anything is sent to Sentry when a write-back file cannot be written (exit 1, whether
    the path came from a flag, pyproject.toml or the CI runner)."""
    for target in targets:
        folder = target.path.resolve().parent
        if target.path.is_dir():
            raise WriteBackError(f"{target.label} is a directory; name a file")
        if not folder.is_dir():
            raise WriteBackError(f"{target.label}: folder {folder} does not exist; create it or fix the path")
        if not os.access(folder, os.W_OK) or (target.path.exists() and not os.access(target.path, os.W_OK)):
            raise WriteBackError(f"{target.label} is not writable; fix its permissions or choose another file")


def describe_targets(targets: Sequence[Target]) -> str:
    return ", ".join(target.label for target in targets if target.kind != "github-summary")


def write_release(targets: Sequence[Target], keys: Sequence[str], outputs: ReleaseOutputs,
                  log: Callable[[str], None]) -> Callable[[], None]:
    """Write the release name to every target; return how to undo the `.env` edit."""
    values = {key: outputs.release for key in keys}
    undo: Callable[[], None] = lambda: None
    written: list[str] = []
    for target in targets:
        if target.kind == "env-file":
            original = update_env_file(target.path, values)
            undo = partial(restore_env_file, target.path, original)
        elif target.kind == "github-env":
            write_github_env(target.path, values)
        elif target.kind == "github-output":
            write_github_output(target.path, {
                "release": outputs.release, "release_url": outputs.release_url,
                "commits": str(outputs.commits), "deploy_id": outputs.deploy_id or ""})
        elif target.kind == "github-summary":
            if outputs.deploy is not None:
                append_github_summary(target.path, summary_markdown(outputs, outputs.deploy))
            continue
        elif target.kind == "gitlab-dotenv":
            write_gitlab_dotenv(target.path, values)
        written.append(target.label)
    if written:
        log(f"wrote {', '.join(sorted(values))}={outputs.release} to {', '.join(written)}")
    return undo
