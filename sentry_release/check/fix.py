"""`check --fix`: the mechanical fixes, written to the app's `.env` in one atomic replace.

Misread lines are rewritten so every reader reads them as meant (the inline comment moved to a
line of its own above), a stale or missing RELEASE gets this checkout's release, and a DSN of
the wrong project or key is swapped for the environment's project's DSN when the token can read
it. Every other byte of the file stays as it was.
"""

from __future__ import annotations

from typing import Sequence

from sentry_release import dsn as dsn_mod
from sentry_release.check.misread import find_misreadings
from sentry_release.check.model import FAILURE, Check, Item
from sentry_release.check.sentry_checks import expected_dsn
from sentry_release.envfile import read_text, replace_lines, set_values, write_text

_RELEASE_KEYS = ("RELEASE", "SENTRY_RELEASE")


def apply_fixes(run: Check, items: Sequence[Item]) -> list[str]:
    """Fix what can be fixed in the file; one line per change made (none: the file is untouched)."""
    path = run.env.file
    if path is None:
        return []
    target, original, text = read_text(path)
    changes: list[str] = []
    rewrites: dict[int, list[str]] = {}
    for found in find_misreadings(run.env):
        if found.rewrite is None or found.line.value is None or found.rewrite == [found.line.text]:
            continue   # nothing a rewrite of the line can mend (a byte-order mark, say)
        rewrites[found.line.number] = found.rewrite
        moved = "moved its comment to the line above, " if len(found.rewrite) == 2 else ""
        shown = found.key if found.key == "SENTRY_DSN" else f"`{found.rewrite[-1]}`"
        changes.append(f"{path.name} line {found.line.number} ({found.key}): {moved}rewrote it as {shown}, "
                       f"which {', '.join(run.env.readers)} read alike")
    values = {**_release_values(run), **_dsn_values(run, items)}
    for key, value in values.items():
        before = run.env.get(key)
        was = f"was {_masked(key, before)}" if before else "it was missing"
        changes.append(f"{path.name}: set {key}={_masked(key, value)} ({was})")
    updated = set_values(replace_lines(text, rewrites), values)
    return changes if write_text(target, original, updated) else []


def _masked(key: str, value: str) -> str:
    """A DSN without its keys; any other value as is."""
    if key != "SENTRY_DSN":
        return value
    try:
        return dsn_mod.parse_dsn(value).describe()
    except dsn_mod.BadDsn:
        return "a malformed DSN"


def _release_values(run: Check) -> dict[str, str]:
    derived = run.facts.derived
    if derived is None:
        return {}
    present = [key for key in _RELEASE_KEYS if run.env.line(key) is not None]
    keys = present or [key for key in run.settings.env_keys]
    return {key: derived for key in keys if run.env.get(key) != derived}


def _dsn_values(run: Check, items: Sequence[Item]) -> dict[str, str]:
    expected = expected_dsn(run) if run.client is not None else None
    failed = {item.key for item in items if item.status == FAILURE}
    if expected and ({"dsn_project", "dsn_key"} & failed or run.env.get("SENTRY_DSN") is None):
        return {"SENTRY_DSN": expected}
    return {}
