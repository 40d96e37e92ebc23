"""Git facts used for naming: HEAD, its date, the branch, version tags, shallow clones.

Plain `git` plumbing through subprocess: a handful of short calls costs a few milliseconds,
where importing GitPython and opening a repository cost over 100 ms on every run.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from sentry_release.errors import GitError
from sentry_release.naming import parse_tag_version

Log = Callable[[str], None]
_MAX_TAG_PROBES = 25


@dataclass(frozen=True)
class Repo:
    root: Path
    shallow: bool


@dataclass(frozen=True)
class Head:
    sha: str
    committed_at: datetime      # UTC
    branch: Optional[str]


@dataclass(frozen=True)
class VersionTag:
    tag: str
    version: str


class _GitFailed(Exception):
    def __init__(self, stderr: str) -> None:
        super().__init__(stderr)
        self.stderr = stderr


def git(cwd: Path, *args: str) -> str:
    """Run one git command; its stdout, stripped. Raises _GitFailed with stderr on failure."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, errors="replace",
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    if result.returncode != 0:
        raise _GitFailed(result.stderr)
    return result.stdout.strip()


def open_repo(path: Path) -> Optional[Repo]:
    """The repository containing `path`, or None when there is none."""
    try:
        root, shallow = git(path, "rev-parse", "--show-toplevel", "--is-shallow-repository").splitlines()
    except (_GitFailed, ValueError):
        return None
    return Repo(Path(root), shallow == "true")


def head(repo: Repo) -> Optional[Head]:
    """HEAD's sha, commit date in UTC and branch; None for a repository with no commits."""
    try:
        sha, stamp = git(repo.root, "log", "-1", "--format=%H %ct", "HEAD").split()
    except (_GitFailed, ValueError):
        return None  # unborn branch
    try:
        branch: Optional[str] = git(repo.root, "symbolic-ref", "--quiet", "--short", "HEAD")
    except _GitFailed:
        branch = None  # detached HEAD
    return Head(sha=sha, committed_at=datetime.fromtimestamp(int(stamp), tz=timezone.utc), branch=branch)


def is_shallow(repo: Repo) -> bool:
    return git(repo.root, "rev-parse", "--is-shallow-repository") == "true"


def latest_version_tag(repo: Repo) -> Optional[VersionTag]:
    """The nearest tag reachable from HEAD that parses as a version, skipping others."""
    excluded: list[str] = []
    for _ in range(_MAX_TAG_PROBES):
        try:
            tag = git(repo.root, "describe", "--tags", "--abbrev=0", *[f"--exclude={t}" for t in excluded])
        except _GitFailed:
            return None  # no (more) reachable tags
        version = parse_tag_version(tag)
        if version:
            return VersionTag(tag=tag, version=version)
        excluded.append(_glob_escape(tag))
    return None


def remotes(repo: Repo) -> list[str]:
    return git(repo.root, "remote").split()


def fetch_tags(repo: Repo, remote: str, log: Log, depth_steps: tuple[int, ...] = (100, 1000)) -> bool:
    """In a shallow clone, deepen with tags until a version tag is reachable. True when one is."""
    if remote not in remotes(repo):
        log(f"cannot fetch tags: this clone has no remote {remote!r}")
        return False
    for depth in depth_steps:
        log(f"shallow clone without version tags: fetching tags (git fetch --tags --deepen={depth} {remote})")
        try:
            git(repo.root, "fetch", "--quiet", "--tags", f"--deepen={depth}", remote)
        except _GitFailed as exc:
            log(f"fetching tags failed: {_last_line(exc.stderr)}")
            return False
        if latest_version_tag(repo) is not None:
            return True
        if not is_shallow(repo):
            return False
    return False


def _glob_escape(tag: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in tag)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1].strip() if lines else "no details"
