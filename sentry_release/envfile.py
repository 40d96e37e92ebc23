"""The app's `.env` file: one model of its lines, what each reader makes of them, and exact edits.

An app reads its `.env` with one of three libraries, and they disagree:

- python-dotenv: `export ` and blanks around `=` are fine; outer quotes are removed, with
  backslash escapes inside double quotes (only `\\\\` and `\\'` inside single ones); a ` # comment`
  after the value is dropped; a byte-order mark is skipped. Its reading is taken as what a line
  means (`EnvLine.value`; its `${VAR}` expansion aside).
- python-decouple: the stripped line is split at the first `=` and one pair of matching outer
  quotes removed, nothing more: an inline comment stays in the value (with the quotes before it),
  backslashes stay, and `export KEY` is a key of its own.
- django-environ (`Env.read_env`): only `KEY=value` or `export KEY=value`, nothing around `=` and
  no indent (other lines are skipped); outer single quotes, then outer double quotes (with
  escapes) removed; an inline comment and trailing blanks stay.

All three let a later assignment win. Only LF ends a line here (a CR before it is its ending).
Only the standard library is imported: write-back loads this at CLI start-up.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

from sentry_release.atomicfile import atomic_write, read_bytes_if_exists, remove_quietly
from sentry_release.errors import UsageError

DOTENV, DECOUPLE, ENVIRON = "python-dotenv", "python-decouple", "django-environ"
READERS = (DOTENV, DECOUPLE, ENVIRON)

BARE, SINGLE, DOUBLE = "", "'", '"'
BOM = "\ufeff"

# indent, `export `, the key, `=`; then the blanks after `=` and the rest of the line
_ASSIGNMENT = re.compile(r"(?P<head>[ \t]*(?P<export>export[ \t]+)?(?P<key>[^\s=#]+)[ \t]*=)(?P<gap>[ \t]*)(?P<rest>.*)",
                         re.S)
_INLINE_COMMENT = re.compile(r"[ \t]+#")
_DOUBLE_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
                   "t": "\t", "v": "\v"}
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENVIRON_LINE = re.compile(r"\A(?:export )?([A-Za-z_0-9]+)=(.*)\Z")


@dataclass(frozen=True)
class EnvLine:
    """One physical line; `start`/`end` are byte offsets in the file (a byte-order mark counted)."""

    number: int
    start: int
    end: int                     # after the line ending
    text: str                    # without the ending
    ending: str                  # "\n", "\r\n" or "" (last line)
    key: Optional[str] = None    # None: blank, comment or not an assignment
    head: str = ""               # indent, `export `, key and `=` as written
    export: bool = False
    raw: str = ""                # the value as written, quotes included
    quote: str = BARE
    tail: str = ""               # after the value: blanks, an inline comment, or what follows a closing quote
    value: Optional[str] = None  # what the line means; None: an unterminated quote or text after one

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.end

    @property
    def comment(self) -> str:
        """The inline comment from its `#`, or ""."""
        stripped = self.tail.strip()
        return stripped if stripped.startswith("#") else ""

    @property
    def unterminated(self) -> bool:
        return self.quote != BARE and _closing_quote(self.raw, self.quote) is None


@dataclass(frozen=True)
class EnvText:
    bom: bool
    lines: tuple[EnvLine, ...]

    def assignments(self, key: str) -> list[EnvLine]:
        return [line for line in self.lines if line.key == key]

    def last(self, key: str) -> Optional[EnvLine]:
        found = self.assignments(key)
        return found[-1] if found else None

    def keys(self) -> list[str]:
        return list(dict.fromkeys(line.key for line in self.lines if line.key))


def _closing_quote(text: str, quote: str) -> Optional[int]:
    """Index of the quote closing `text[0]`; a backslash always escapes the next character."""
    index = 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == quote:
            return index
        index += 1
    return None


def _unescape(inner: str, quote: str) -> str:
    if quote == SINGLE:
        return re.sub(r"\\([\\'])", lambda m: m.group(1), inner)
    return re.sub(r"\\([\\'\"abfnrtv])", lambda m: _DOUBLE_ESCAPES[m.group(1)], inner)


def _blank_or_comment(tail: str) -> bool:
    return not tail.strip() or tail.lstrip().startswith("#")


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def parse_line(number: int, start: int, text: str, ending: str) -> EnvLine:
    end = start + _size(text + ending)
    match = _ASSIGNMENT.fullmatch(text)
    if match is None or text.lstrip().startswith("#"):
        return EnvLine(number, start, end, text, ending)
    gap, rest = match.group("gap"), match.group("rest")
    raw, quote, tail, value = _value_part(gap, rest)
    return EnvLine(number, start, end, text, ending, key=match.group("key"), head=match.group("head"),
                   export=bool(match.group("export")), raw=raw, quote=quote, tail=tail, value=value)


def _value_part(gap: str, rest: str) -> tuple[str, str, str, Optional[str]]:
    """(raw, quote, tail, value) of what follows `=` and its blanks."""
    if rest[:1] in (SINGLE, DOUBLE):
        close = _closing_quote(rest, rest[0])
        if close is None:
            return rest, rest[0], "", None
        raw, tail = rest[: close + 1], rest[close + 1:]
        return raw, raw[0], tail, _unescape(raw[1:-1], raw[0]) if _blank_or_comment(tail) else None
    if gap and rest.startswith("#"):   # `KEY= # comment`: python-dotenv reads an empty value
        return "", BARE, gap + rest, ""
    comment = _INLINE_COMMENT.search(rest)
    raw = (rest[: comment.start()] if comment else rest).rstrip(" \t")
    return raw, BARE, rest[len(raw):], raw


def _split_lines(text: str) -> list[str]:
    """Lines with their endings; only LF ends a line (a CR before it belongs to the ending)."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


def _ending(line: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    return "\n" if line.endswith("\n") else ""


def parse_env(text: str) -> EnvText:
    bom = text.startswith(BOM)
    body = text[len(BOM):] if bom else text
    lines, offset = [], _size(BOM) if bom else 0
    for number, chunk in enumerate(_split_lines(body), 1):
        ending = _ending(chunk)
        line = parse_line(number, offset, chunk[: len(chunk) - len(ending)], ending)
        lines.append(line)
        offset = line.end
    return EnvText(bom, tuple(lines))


# ---------------------------------------------------------------- what each reader reads


def read_line(reader: str, line: EnvLine, bom: bool = False) -> Optional[tuple[str, str]]:
    """(key, value) as `reader` reads this line, or None when it skips it.

    `bom`: the file starts with a byte-order mark and this is its first line; decouple and
    django-environ read the mark as part of the line.
    """
    if reader == DOTENV:
        return (line.key, line.value) if line.key is not None and line.value is not None else None
    text = (BOM if bom and line.number == 1 else "") + line.text
    return _decouple_line(text) if reader == DECOUPLE else _environ_line(text)


def _decouple_line(text: str) -> Optional[tuple[str, str]]:
    stripped = text.strip()
    if not stripped or stripped.startswith("#") or "=" not in stripped:
        return None
    key, value = (part.strip() for part in stripped.split("=", 1))
    if len(value) >= 2 and value[0] == value[-1] and value[0] in (SINGLE, DOUBLE):
        value = value[1:-1]
    return key, value


def _environ_line(text: str) -> Optional[tuple[str, str]]:
    match = _ENVIRON_LINE.match(text)
    if match is None:
        return None
    key, value = match.groups()
    single = re.match(r"\A'(.*)'\Z", value)
    if single:
        value = single.group(1)
    double = re.match(r'\A"(.*)"\Z', value)
    if double:   # escapes resolved, except that \n \r \t stay as written
        value = re.sub(r"\\(.)", lambda m: "\\" + m.group(1) if m.group(1) in "rnt" else m.group(1),
                       double.group(1))
    return key, value


def readings(document: EnvText, reader: str) -> dict[str, tuple[EnvLine, str]]:
    """Every key `reader` finds, with the line it takes it from (the last) and the value."""
    found: dict[str, tuple[EnvLine, str]] = {}
    for line in document.lines:
        pair = read_line(reader, line, document.bom)
        if pair is not None:
            found[pair[0]] = (line, pair[1])
    return found


# ---------------------------------------------------------------- portable values

# Characters every reader (and a POSIX shell sourcing the file) takes literally when unquoted.
_BARE_SAFE_ASCII = re.compile(r"[A-Za-z0-9_.,:/@%+=~^-]*")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_key(key: str) -> None:
    if not isinstance(key, str) or not ENV_KEY.fullmatch(key):
        raise UsageError(f"invalid variable name {key!r}: use letters, digits and underscores, not starting with a digit")


def _check_plain_text(key: str, value: str) -> None:
    """No newline, NUL or other control character (a tab is allowed); encodable as UTF-8."""
    if not isinstance(value, str):
        raise UsageError(f"value for {key} must be a string, not {type(value).__name__}")
    bad = _CONTROL_CHARS.search(value)
    if bad:
        raise UsageError(f"value for {key} contains the control character {bad.group()!r}: "
                         "newlines, NUL and other control characters cannot be written to this file")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"value for {key} is not valid Unicode text") from None


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


_STYLE_SAFE = {BARE: _bare_safe, SINGLE: _single_quote_safe, DOUBLE: _double_quote_safe}
_STYLE_FALLBACKS = {BARE: (BARE, SINGLE, DOUBLE), SINGLE: (SINGLE, DOUBLE), DOUBLE: (DOUBLE, SINGLE)}


def render_value(key: str, value: str, preferred: str = BARE) -> str:
    """`value` written so that all three readers read it back as is: in `preferred` style when
    portable there, else in the first portable fallback; none portable -> UsageError."""
    _check_plain_text(key, value)
    if "${" in value:
        raise UsageError(f"value for {key} contains '${{', which python-dotenv expands as a variable and "
                         "python-decouple/django-environ do not; choose a value without it")
    for style in _STYLE_FALLBACKS[preferred]:
        if _STYLE_SAFE[style](value):
            return f"{style}{value}{style}"
    raise UsageError(f"value for {key} cannot be written so that python-dotenv, python-decouple and "
                     "django-environ read it the same (it mixes quotes or backslashes); choose a simpler value")


# ---------------------------------------------------------------- edits


def _replaced(line: EnvLine, value: str) -> str:
    """The line with a new value, keeping its `export `, quoting style and inline comment."""
    assert line.key is not None
    if line.unterminated:
        raise UsageError(f"{line.key} on line {line.number} has an unterminated or multi-line quoted value; "
                         "edit that line by hand first")
    trailer = line.tail if line.quote != BARE or line.comment else ""  # trailing blanks: environ reads them
    return line.head + render_value(line.key, value, line.quote) + trailer


def set_values(text: str, values: Mapping[str, str]) -> str:
    """Every assignment of each key replaced in place, missing keys appended; other bytes kept."""
    document = parse_env(text)
    replacements: dict[int, list[str]] = {}
    replaced: set[str] = set()
    for line in document.lines:
        if line.key is not None and line.key in values:
            replacements[line.number] = [_replaced(line, values[line.key])]
            replaced.add(line.key)
    updated = replace_lines(text, replacements)
    missing = [key for key in values if key not in replaced]
    if not missing:
        return updated
    newline = next((line.ending for line in document.lines[:1] if line.ending), "\n")
    if document.lines and not document.lines[-1].ending:
        updated += newline
    return updated + "".join(f"{key}={render_value(key, values[key])}{newline}" for key in missing)


def replace_lines(text: str, replacements: Mapping[int, Sequence[str]]) -> str:
    """Line number -> the lines (without endings) that take its place, each given its ending."""
    document = parse_env(text)
    newline = next((line.ending for line in document.lines if line.ending), "\n")
    parts = [BOM] if document.bom else []
    for line in document.lines:
        new = replacements.get(line.number)
        if new is None:
            parts.append(line.text + line.ending)
            continue
        parts.append((line.ending or newline).join(new) + line.ending)
    return "".join(parts)


def read_text(path: Path) -> tuple[Path, bytes | None, str]:
    """The real path (a symlink followed), the bytes (None: no file) and the text they hold."""
    target = Path(os.path.realpath(path))
    original = read_bytes_if_exists(target)
    return target, original, (original or b"").decode("utf-8", "surrogateescape")


def write_text(target: Path, original: bytes | None, text: str) -> bool:
    """Write `text` atomically when it differs from `original`; whether it was written."""
    updated = text.encode("utf-8", "surrogateescape")
    if updated == original:
        return False
    atomic_write(target, updated)
    return True


def update_env_file(path: Path, values: Mapping[str, str]) -> bytes | None:
    """Set `values` in a .env file: each assignment of a key replaced in place, new keys appended.

    Every other line stays byte-identical; the replaced line keeps its `export `, quoting style
    and inline comment. A value unsafe in the line's style moves to the first portable one
    (bare -> single -> double quotes); none portable -> UsageError, file untouched. The write is
    atomic and keeps mode (and owner where allowed); a symlink is followed and its target
    rewritten. A missing file is created. Returns the previous content (None: there was no
    file), for `restore_env_file`.
    """
    for key, value in values.items():
        check_key(key)
        render_value(key, value)  # refuse bad values before touching anything
    target, original, text = read_text(path)
    write_text(target, original, set_values(text, values))
    return original


def restore_env_file(path: Path, original: bytes | None) -> None:
    """Put back what `update_env_file` replaced, atomically (or remove a file it created)."""
    target = Path(os.path.realpath(path))
    if original is None:
        remove_quietly(target)
    else:
        atomic_write(target, original)
