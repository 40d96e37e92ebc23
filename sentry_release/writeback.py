"""Write the release name back into the deploy environment.

Targets: an app's ``.env`` file, GitHub Actions' ``$GITHUB_ENV`` / ``$GITHUB_OUTPUT`` /
``$GITHUB_STEP_SUMMARY`` files, a GitLab dotenv report, and stdout formats.

``.env`` portability: the app may read the file with python-dotenv, python-decouple or
django-environ, which disagree on quoting, escapes, inline comments and ``${VAR}``. Every value
written here is in a form all three read back identically; when no such form exists the write
is refused. When a key is assigned more than once, *every* assignment is replaced (each in its
own style), so no reader can pick up a stale value whichever occurrence it honours.

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

from sentry_release.errors import UsageError, WriteBackError

if TYPE_CHECKING:
    from sentry_release.config import Settings

__all__ = [
    "update_env_file",
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

_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GITLAB_KEY = re.compile(r"[A-Za-z0-9_]+")
# An assignment line: optional indent and `export `, the key, `=`; the rest is the value part.
_ASSIGNMENT = re.compile(r"(?P<head>[ \t]*(?:export[ \t]+)?(?P<key>[^\s=#]+)[ \t]*=)(?P<rest>.*)", re.S)
# Characters every reader (and a POSIX shell sourcing the file) takes literally when unquoted.
_BARE_SAFE_ASCII = re.compile(r"[A-Za-z0-9_.,:/@%+=~^-]*")
_INLINE_COMMENT = re.compile(r"[ \t]+#")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

_BARE, _SINGLE, _DOUBLE = "bare", "'", '"'


# ---------------------------------------------------------------- validation


def _check_key(key: str, pattern: re.Pattern[str] = _ENV_KEY) -> None:
    if not isinstance(key, str) or not pattern.fullmatch(key):
        raise UsageError(
            f"invalid variable name {key!r}: use letters, digits and underscores, not starting with a digit"
            if pattern is _ENV_KEY
            else f"invalid variable name {key!r}: use only ASCII letters, digits and underscores"
        )


def _check_plain_text(key: str, value: str) -> None:
    """No newline, NUL or other control character (a tab is allowed); encodable as UTF-8."""
    if not isinstance(value, str):
        raise UsageError(f"value for {key} must be a string, not {type(value).__name__}")
    bad = _CONTROL_CHARS.search(value)
    if bad:
        raise UsageError(
            f"value for {key} contains the control character {bad.group()!r}: "
            "newlines, NUL and other control characters cannot be written to this file"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"value for {key} is not valid Unicode text") from None


def _validated(values: Mapping[str, str], pattern: re.Pattern[str] = _ENV_KEY) -> dict[str, str]:
    for key, value in values.items():
        _check_key(key, pattern)
        if not isinstance(value, str):
            raise UsageError(f"value for {key} must be a string, not {type(value).__name__}")
    return dict(values)


# ---------------------------------------------------------------- .env value forms


def _bare_safe(value: str) -> bool:
    return all(_BARE_SAFE_ASCII.fullmatch(ch) or (ord(ch) > 127 and ch.isprintable()) for ch in value)


def _single_quote_safe(value: str) -> bool:
    # python-dotenv unescapes \\ and \' inside single quotes; the others keep them literally.
    # django-environ strips a second, double-quoted layer: '"x"' reads as x there.
    double_quoted_inside = len(value) >= 2 and value[0] == value[-1] == '"'
    return "'" not in value and "\\\\" not in value and not value.endswith("\\") and not double_quoted_inside


def _double_quote_safe(value: str) -> bool:
    # python-dotenv and django-environ process backslash escapes inside double quotes.
    return '"' not in value and "\\" not in value


_STYLE_SAFE = {_BARE: _bare_safe, _SINGLE: _single_quote_safe, _DOUBLE: _double_quote_safe}
_STYLE_FALLBACKS = {_BARE: (_BARE, _SINGLE, _DOUBLE), _SINGLE: (_SINGLE, _DOUBLE), _DOUBLE: (_DOUBLE, _SINGLE)}


def _render_env_value(key: str, value: str, preferred: str) -> str:
    """The value in `preferred` style if portable there, else the first portable fallback."""
    _check_plain_text(key, value)
    if "${" in value:
        raise UsageError(
            f"value for {key} contains '${{', which python-dotenv expands as a variable and "
            "python-decouple/django-environ do not; choose a value without it"
        )
    for style in _STYLE_FALLBACKS[preferred]:
        if _STYLE_SAFE[style](value):
            return value if style == _BARE else f"{style}{value}{style}"
    raise UsageError(
        f"value for {key} cannot be written so that python-dotenv, python-decouple and "
        "django-environ read it the same (it mixes quotes or backslashes); choose a simpler value"
    )


# ---------------------------------------------------------------- .env editing


def _split_lines(text: str) -> list[str]:
    """Lines with their endings; only LF ends a line (a CR before it belongs to the ending)."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


def _line_ending(line: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    return "\n" if line.endswith("\n") else ""


def _closing_quote(text: str, quote: str) -> int | None:
    index = 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == quote:
            return index
        index += 1
    return None


def _style_and_trailer(key: str, rest: str, line_number: int) -> tuple[str, str]:
    """Quoting style of an existing value and what follows it (kept: an inline comment)."""
    value_part = rest.lstrip(" \t")
    if value_part[:1] in (_SINGLE, _DOUBLE):
        end = _closing_quote(value_part, value_part[0])
        if end is None:
            raise UsageError(
                f"{key} on line {line_number} has an unterminated or multi-line quoted value; "
                "edit that line by hand first"
            )
        return value_part[0], value_part[end + 1 :]
    comment = _INLINE_COMMENT.search(value_part)
    return _BARE, value_part[comment.start() :] if comment else ""


def _replace_assignment(match: re.Match[str], ending: str, value: str, line_number: int) -> str:
    key = match.group("key")
    style, trailer = _style_and_trailer(key, match.group("rest"), line_number)
    return match.group("head") + _render_env_value(key, value, style) + trailer + ending


def _edit_env_text(text: str, values: Mapping[str, str]) -> str:
    # A byte-order mark (Windows editors) is kept, but must not hide the first line's key.
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    lines = _split_lines(text[len(bom):])
    replaced: set[str] = set()
    for index, line in enumerate(lines):
        ending = _line_ending(line)
        match = _ASSIGNMENT.fullmatch(line[: len(line) - len(ending)])
        if match and match.group("key") in values:
            key = match.group("key")
            lines[index] = _replace_assignment(match, ending, values[key], index + 1)
            replaced.add(key)
    missing = [key for key in values if key not in replaced]
    if missing:
        newline = _line_ending(lines[0]) if lines and _line_ending(lines[0]) else "\n"
        if lines and not _line_ending(lines[-1]):
            lines[-1] += newline
        lines.extend(f"{key}={_render_env_value(key, values[key], _BARE)}{newline}" for key in missing)
    return bom + "".join(lines)


def update_env_file(path: Path, values: Mapping[str, str]) -> bytes | None:
    """Set `values` in a .env file: each assignment of a key replaced in place, new keys appended.

    Every other line stays byte-identical; the replaced line keeps its `export `, quoting style
    and inline comment. A value unsafe in the line's style moves to the first portable one
    (bare -> single -> double quotes); none portable -> UsageError, file untouched. The write is
    atomic and keeps mode (and owner where allowed); a symlink is followed and its target
    rewritten. A missing file is created. Returns the previous content (None: there was no
    file), for `restore_env_file`.
    """
    values = _validated(values)
    for key, value in values.items():
        _render_env_value(key, value, _BARE)  # refuse bad values before touching anything
    target = Path(os.path.realpath(path))
    original = _read_bytes_if_exists(target)
    text = (original or b"").decode("utf-8", "surrogateescape")
    updated = _edit_env_text(text, values).encode("utf-8", "surrogateescape")
    if updated != original:
        _atomic_write(target, updated)
    return original


def restore_env_file(path: Path, original: bytes | None) -> None:
    """Put back what `update_env_file` replaced, atomically (or remove a file it created)."""
    target = Path(os.path.realpath(path))
    if original is None:
        _remove_quietly(target)
    else:
        _atomic_write(target, original)


# ---------------------------------------------------------------- atomic file replacement


def _read_bytes_if_exists(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WriteBackError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _create_temp_beside(target: Path) -> tuple[int, Path]:
    # Not tempfile.mkstemp: its 0o600 would leak into a newly created file, whereas 0o666 here
    # gets the umask applied like any file the user creates.
    for _ in range(100):
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temp
        except FileExistsError:
            continue
    raise WriteBackError(f"cannot create a temporary file beside {target}")


def _copy_mode_and_owner(fd: int, original: os.stat_result) -> None:
    os.fchmod(fd, original.st_mode & 0o7777)
    if (original.st_uid, original.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, original.st_uid, original.st_gid)
        except PermissionError:
            pass  # only root may give a file away; the content matters more than its owner


def _fsync_directory(directory: Path) -> None:
    # Makes the rename durable. Best effort: the new content is already in place, and some
    # filesystems cannot open or fsync a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(target: Path, data: bytes) -> None:
    """Replace `target` with `data` so readers see the old or the new file, never a mix."""
    try:
        original = os.stat(target)
    except FileNotFoundError:
        original = None
    except OSError as exc:
        raise WriteBackError(f"cannot inspect {target}: {exc.strerror or exc}") from exc
    try:
        fd, temp = _create_temp_beside(target)
    except OSError as exc:
        raise WriteBackError(
            f"cannot write in {target.parent}: {exc.strerror or exc}; check the folder exists and is writable"
        ) from exc
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            if original is not None:
                _copy_mode_and_owner(stream.fileno(), original)
            os.fsync(stream.fileno())
        os.replace(temp, target)
    except BaseException as exc:
        _remove_quietly(temp)
        if isinstance(exc, OSError):
            raise WriteBackError(f"cannot write {target}: {exc.strerror or exc}; it was left unchanged") from exc
        raise
    _fsync_directory(target.parent)


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


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
    text = (_read_bytes_if_exists(path) or b"").decode("utf-8", "replace")
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
    _atomic_write(target, data)


# ---------------------------------------------------------------- stdout formats


def _render_shell(values: Mapping[str, str]) -> str:
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in values.items())


def _render_json(values: Mapping[str, str]) -> str:
    return json.dumps(dict(values), ensure_ascii=False) + "\n"


def _render_dotenv(values: Mapping[str, str]) -> str:
    return "".join(f"{key}={_render_env_value(key, value, _BARE)}\n" for key, value in values.items())


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
    """What the write-back says about the release: the name, and for GitHub the step's outputs."""

    release: str
    release_url: str = ""
    commits: int = 0
    deploy_id: Optional[str] = None
    summary: Optional[str] = None       # Markdown for $GITHUB_STEP_SUMMARY


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
            if outputs.summary:
                append_github_summary(target.path, outputs.summary)
            continue
        elif target.kind == "gitlab-dotenv":
            write_gitlab_dotenv(target.path, values)
        written.append(target.label)
    if written:
        log(f"wrote {', '.join(sorted(values))}={outputs.release} to {', '.join(written)}")
    return undo
