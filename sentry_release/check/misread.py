"""Values the app's `.env` reader reads differently from what the line says, and the exact fix.

The reference is what the line means (python-dotenv's reading); a reader misreads a key when the
value it hands the app differs. The fix is a rewrite of that line that every reader reads alike:
the inline comment on a line of its own above it, the value in a portable form, no `export `
under python-decouple, nothing around `=` for django-environ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from sentry_release.booleans import FALSE_WORDS, TRUE_WORDS
from sentry_release.check.appenv import AppEnv
from sentry_release.check.model import FAILURE, OK, WARNING, Check, Item
from sentry_release.envfile import DECOUPLE, DOTENV, ENVIRON, EnvLine, render_value
from sentry_release.errors import UsageError

CHECKED_KEYS = ("SENTRY_DSN", "ENVIRONMENT", "SENTRY_ENVIRONMENT", "SENTRY_TRACES_SAMPLE_RATE",
                "SENTRY_SAMPLE_RATE", "RELEASE", "SENTRY_RELEASE", "DEBUG")
FLOAT_KEYS = ("SENTRY_TRACES_SAMPLE_RATE", "SENTRY_SAMPLE_RATE")
_ENVIRON_TRUE = ("true", "on", "ok", "y", "yes", "1")


@dataclass(frozen=True)
class Misreading:
    key: str
    line: EnvLine
    read: dict[str, Optional[str]]      # reader -> what it reads (None: no such key), misreaders only
    rewrite: Optional[list[str]]        # the lines that replace it, None: no portable form
    causes: list[str]


def find_misreadings(env: AppEnv, keys: tuple[str, ...] = CHECKED_KEYS) -> list[Misreading]:
    found = []
    for key in keys:
        line = env.line(key)
        if line is None:
            continue
        read = {reader: env.read_by(reader, key) for reader in env.readers}
        wrong = {reader: value for reader, value in read.items() if misreads(reader, key, value, line.value)}
        if wrong:
            found.append(Misreading(key, line, wrong, rewrite_line(line, env.readers), _causes(line, env)))
    return found


def rewrite_line(line: EnvLine, readers: tuple[str, ...]) -> Optional[list[str]]:
    """The line in a form every reader reads as meant: None when the value has no such form."""
    assert line.key is not None
    if line.value is None:
        return None
    try:
        value = render_value(line.key, line.value, line.quote)
    except UsageError:
        return None
    export = "export " if line.export and DECOUPLE not in readers else ""
    rewritten = f"{export}{line.key}={value}"
    return [line.comment, rewritten] if line.comment else [rewritten]


def _causes(line: EnvLine, env: AppEnv) -> list[str]:
    causes = []
    if line.number == 1 and env.document.bom and set(env.readers) & {DECOUPLE, ENVIRON}:
        causes.append("save the file as UTF-8 without a byte-order mark")
    if line.unterminated:
        causes.append("close the quote on the same line")
    elif line.value is None:
        causes.append("remove what follows the closing quote")
    if line.comment:
        causes.append("move the comment to its own line")
    if line.export and DECOUPLE in env.readers:
        causes.append("remove `export `")
    if ENVIRON in env.readers and not re.fullmatch(r"(?:export )?[A-Za-z_0-9]+=", line.head):
        causes.append("remove the blanks around '='")
    if not line.comment and line.tail.strip() == "" and line.tail and ENVIRON in env.readers:
        causes.append("remove the trailing blanks")
    if not causes:
        causes.append("quote it" if line.quote == "" else "write the value without backslashes")
    return causes


class _Raises:
    def __repr__(self) -> str:
        return "ValueError"


RAISES = _Raises()
_CAST_NAMES = {DOTENV: ("float()", "bool"), DECOUPLE: ("config(cast=float)", "config(cast=bool)"),
               ENVIRON: ("env.float()", "env.bool()")}


def cast_value(reader: str, key: str, value: str) -> object:
    """What the app gets once the reader casts the value: a float for the rates, a bool for
    DEBUG (python-dotenv hands over text only), the text otherwise; RAISES when the cast fails."""
    try:
        if key in FLOAT_KEYS:
            return _environ_float(value) if reader == ENVIRON else float(value)
        if key == "DEBUG" and reader != DOTENV:
            return _environ_bool(value) if reader == ENVIRON else _decouple_bool(value)
    except ValueError:
        return RAISES
    return value


def _environ_float(value: str) -> float:
    # django-environ drops every character but digits, ',', '.', '-' and takes the last separator as the point
    parts = re.split(r"[,.]", re.sub(r"[^\d,.-]", "", value))
    return float(parts[0] if len(parts) == 1 else f"{''.join(parts[:-1])}.{parts[-1]}")


def _environ_bool(value: str) -> bool:
    try:
        return int(value) != 0
    except ValueError:
        return value.lower().strip() in _ENVIRON_TRUE


def _decouple_bool(value: str) -> bool:
    word = value.lower()   # no strip: blanks or a comment make it raise
    if word in TRUE_WORDS or word in FALSE_WORDS or word == "":
        return word in TRUE_WORDS
    raise ValueError(value)


def typed(reader: str, key: str, value: Optional[str]) -> str:
    """How the reader's value reaches the app, for the message."""
    if value is None:
        return "finds no such key"
    shown = f"reads {value!r}"
    if key not in FLOAT_KEYS and key != "DEBUG" or (key == "DEBUG" and reader == DOTENV):
        return shown
    cast = _CAST_NAMES[reader][0 if key in FLOAT_KEYS else 1]
    result = cast_value(reader, key, value)
    return f"{shown} ({cast} raises ValueError)" if result is RAISES else f"{shown} ({cast} gives {result})"


def misreads(reader: str, key: str, got: Optional[str], meant: Optional[str]) -> bool:
    if got is None or meant is None:
        return True
    return got != meant and cast_value(reader, key, got) != cast_value(reader, key, meant)


def misread_item(run: Check, found: Misreading) -> Item:
    line, key = found.line, found.key
    where = f"{run.env.label} line {line.number}"
    parts = []
    for reader, value in found.read.items():
        hidden = key == "SENTRY_DSN" and value is not None   # the DSN is shown masked only
        parts.append(f"{reader} {'reads it differently' if hidden else typed(reader, key, value)}")
    meant = "an unterminated value" if line.value is None else (
        "the DSN" if key == "SENTRY_DSN" else repr(line.value))
    message = f"{key} ({where}) means {meant}, but {'; '.join(parts)}"
    return Item(f"env_file:{key}", f".env {key}", FAILURE, message, _fix(found), list(run.env.readers))


def _fix(found: Misreading) -> str:
    how, number, rewrite = " and ".join(dict.fromkeys(found.causes)), found.line.number, found.rewrite
    if rewrite is None:
        return f"{how} on line {number}, with a value of plain characters"
    if rewrite == [found.line.text]:   # the line is fine; the file around it is not
        return how
    if found.key == "SENTRY_DSN":      # the rewritten line would show the DSN's key
        return f"{how} on line {number}, or run `sentry-release check --fix`"
    if len(rewrite) == 2:
        return (f"{how}: put `{rewrite[0]}` on a line of its own above `{rewrite[1]}` (line {number}), "
                "or run `sentry-release check --fix`")
    return f"{how}: write line {number} as `{rewrite[0]}`, or run `sentry-release check --fix`"


def check_env_syntax(run: Check) -> list[Item]:
    """One failure per Sentry key the app's reader misreads; a warning for the file's other keys."""
    if run.env.file is None:
        return []
    readers = list(run.env.readers)
    items = [misread_item(run, found) for found in find_misreadings(run.env)]
    others = tuple(key for key in run.env.document.keys() if key not in CHECKED_KEYS)
    elsewhere = find_misreadings(run.env, others)
    if elsewhere:
        listed = ", ".join(f"{found.key} (line {found.line.number})" for found in elsewhere)
        items.append(Item("env_file", ".env syntax", WARNING,
                          f"{', '.join(readers)} would misread other keys too: {listed}",
                          "move inline comments to their own lines and quote values with blanks", readers))
    elif not items:
        items.append(Item("env_file", ".env syntax", OK,
                          f"{run.env.file}: every Sentry key reads the same with {', '.join(readers)} "
                          f"({run.env.readers_from})", None, readers))
    return items


__all__ = ["CHECKED_KEYS", "Misreading", "check_env_syntax", "find_misreadings", "rewrite_line"]
