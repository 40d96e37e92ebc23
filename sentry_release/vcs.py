"""Git facts used for naming: HEAD, its date, the branch, version tags, shallow clones.

GitPython is imported lazily so commands that never touch git start fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from sentry_release.errors import GitError
from sentry_release.naming import parse_tag_version

if TYPE_CHECKING:  # pragma: no cover
    import git

Log = Callable[[str], None]
_MAX_TAG_PROBES = 25


@dataclass(frozen=True)
class Head:
    sha: str
    committed_at: datetime      # UTC
    branch: Optional[str]


@dataclass(frozen=True)
class VersionTag:
    tag: str
    version: str


def open_repo(path: Path) -> Optional["git.Repo"]:
    """The repository containing `path`, or None when there is none (or git is missing)."""
    try:
        import git
    except ImportError as exc:  # GitPython raises ImportError when the git binary is missing
        raise GitError(f"git is not usable here: {exc}") from None
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def head(repo: "git.Repo") -> Optional[Head]:
    """HEAD's sha, commit date in UTC and branch; None for a repository with no commits."""
    import git

    try:
        commit = repo.head.commit
    except ValueError:  # unborn branch
        return None
    try:
        branch: Optional[str] = repo.active_branch.name
    except (TypeError, git.GitCommandError):  # detached HEAD
        branch = None
    committed = datetime.fromtimestamp(commit.committed_date, tz=timezone.utc)
    return Head(sha=commit.hexsha, committed_at=committed, branch=branch)


def is_shallow(repo: "git.Repo") -> bool:
    return _git(repo, "rev-parse", "--is-shallow-repository") == "true"


def latest_version_tag(repo: "git.Repo") -> Optional[VersionTag]:
    """The nearest tag reachable from HEAD that parses as a version, skipping others."""
    import git

    excluded: list[str] = []
    for _ in range(_MAX_TAG_PROBES):
        args = ["describe", "--tags", "--abbrev=0"] + [f"--exclude={tag}" for tag in excluded]
        try:
            tag = repo.git.execute(["git", *args], with_extended_output=False).strip()
        except git.GitCommandError:
            return None  # no (more) reachable tags
        version = parse_tag_version(tag)
        if version:
            return VersionTag(tag=tag, version=version)
        excluded.append(_glob_escape(tag))
    return None


def fetch_tags(repo: "git.Repo", remote: str, log: Log, depth_steps: tuple[int, ...] = (100, 1000)) -> bool:
    """In a shallow clone, deepen with tags until a version tag is reachable. True when one is."""
    import git

    if remote not in [r.name for r in repo.remotes]:
        log(f"cannot fetch tags: this clone has no remote {remote!r}")
        return False
    for depth in depth_steps:
        log(f"shallow clone without version tags: fetching tags (git fetch --tags --deepen={depth} {remote})")
        try:
            _git(repo, "fetch", "--quiet", "--tags", f"--deepen={depth}", remote)
        except git.GitCommandError as exc:
            log(f"fetching tags failed: {_first_line(exc.stderr)}")
            return False
        if latest_version_tag(repo) is not None:
            return True
        if not is_shallow(repo):
            return False
    return False


def _git(repo: "git.Repo", *args: str) -> str:
    return str(repo.git.execute(["git", *args], with_extended_output=False)).strip()


def _glob_escape(tag: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in tag)


def _first_line(text: object) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[-1].strip() if lines else "no details"
