"""Git facts a release name depends on: the nearest version tag, and HEAD's place in its day.

A shallow clone may not see either. It fetches what it lacks from the remote; when it cannot, it
fails with the fix, so that the same commit never derives two names in two clones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable, Optional

from sentry_release.errors import GitError
from sentry_release.git import FirstParent, Head, Repository
from sentry_release.naming import parse_tag_version

Log = Callable[[str], None]
_MAX_TAG_PROBES = 25
_TAG_FETCH_STEPS = (("--deepen=100",), ("--deepen=1000",), ("--unshallow",))
_DAY_FETCH_STEPS = (("--deepen=50",), ("--deepen=500",), ("--unshallow",))
_FULL_HISTORY_FIX = "fetch the full history (fetch-depth: 0 in actions/checkout, GIT_DEPTH: 0 in GitLab)"


@dataclass(frozen=True)
class VersionTag:
    tag: str
    version: str
    sha: str            # the commit the tag points at: where this version starts


@dataclass(frozen=True)
class Fetching:
    """Whether and from where a shallow clone may fetch what a name depends on."""

    allowed: bool
    remote: str
    log: Log


@dataclass(frozen=True)
class DayOrdinal:
    """HEAD is the `number`-th commit of its UTC day on its first-parent line (since `since`)."""

    number: int
    day: date
    since: Optional[str]    # the tag the version comes from, where the count stops at the latest

    def describe(self) -> str:
        since = f" since {self.since}" if self.since else ""
        return f"{_ordinal_word(self.number)} commit of {self.day.isoformat()} on this line{since}"


def latest_version_tag(repo: Repository) -> Optional[VersionTag]:
    """The nearest tag reachable from HEAD that parses as a version, skipping others."""
    excluded: list[str] = []
    for _ in range(_MAX_TAG_PROBES):
        tag = repo.nearest_tag(excluded)
        if tag is None:
            return None
        version = parse_tag_version(tag)
        if version:
            return VersionTag(tag, version, repo.resolve(f"refs/tags/{tag}") or "")
        excluded.append(_glob_escape(tag))
    return None


def version_tag(repo: Repository, fetching: Fetching) -> Optional[VersionTag]:
    """The nearest version tag; a shallow clone that sees none fetches tags, or fails saying why."""
    found = latest_version_tag(repo)
    if found is not None or not repo.shallow:
        return found
    what = "no version tag is reachable from HEAD in this shallow clone"
    fix = f"{_FULL_HISTORY_FIX}, or set version-source / --base-version"
    _check_can_fetch(repo, fetching, what, fix)
    try:
        remote_has_versions = any(parse_tag_version(t) for t in repo.remote_tags(fetching.remote))
    except GitError as exc:
        raise GitError(f"{what}, and asking {fetching.remote!r} for its tags failed ({exc}); {fix}") from None
    if not remote_has_versions:
        fetching.log(f"shallow clone: {fetching.remote} has no version tags, so none can be reachable")
        return None
    for step in _TAG_FETCH_STEPS:
        fetching.log(f"shallow clone without version tags: fetching tags (git fetch --tags {step[0]} "
                     f"{fetching.remote})")
        _fetch(repo, fetching, ("--tags", *step), what, fix)
        found = latest_version_tag(repo)
        if found is not None or not repo.shallow:
            return found
    return None


def day_ordinal(repo: Repository, head: Head, start: Optional[VersionTag], fetching: Fetching) -> DayOrdinal:
    """Count HEAD's first-parent ancestors of HEAD's UTC day, back to the version's start.

    The walk stops at the tag the version comes from (counted), or at the first commit of an
    earlier day. A shallow clone whose history ends before either is deepened, or fails.
    """
    day = head.committed_at.date()
    counted = _count_day(repo, head, day, start)
    if counted is not None:
        return counted
    what = (f"the shallow clone ends before the start of {day.isoformat()} on HEAD's line of history, so "
            "HEAD's place among that day's commits (the name's .N suffix) is unknown")
    fix = f"{_FULL_HISTORY_FIX}, or use a template without {{date}}"
    _check_can_fetch(repo, fetching, what, fix)
    for step in _DAY_FETCH_STEPS:
        fetching.log(f"shallow clone: fetching history to find the first commit of {day.isoformat()} "
                     f"(git fetch {step[0]} {fetching.remote})")
        _fetch(repo, fetching, step, what, fix)
        counted = _count_day(repo, head, day, start)
        if counted is not None:
            return counted
    raise GitError(f"{what}, even after fetching the full history; {fix}")


def _count_day(repo: Repository, head: Head, day: date, start: Optional[VersionTag]) -> Optional[DayOrdinal]:
    """The ordinal, or None when this clone's history ends before the walk could stop."""
    since = start.tag if start is not None else None
    number, skip, page = 0, 0, 64
    last: Optional[FirstParent] = None
    while True:
        commits = repo.first_parents(head.sha, skip, page)
        for commit in commits:  # HEAD first, so number is at least 1 when the walk stops
            commit_day = commit.committed_at.date()
            if commit_day < day:
                return DayOrdinal(number, day, since)
            if commit_day == day:
                number += 1  # a commit dated after HEAD's day (a skewed clock) is passed over
            if start is not None and commit.sha == start.sha:
                return DayOrdinal(number, day, since)
        if commits:
            last = commits[-1]
        if len(commits) < page:
            break
        skip, page = skip + page, page * 4
    if last is not None and last.sha in repo.shallow_commits():
        return None  # the line goes on before what this clone holds
    return DayOrdinal(number, day, since)


def _check_can_fetch(repo: Repository, fetching: Fetching, what: str, fix: str) -> None:
    if not fetching.allowed:
        raise GitError(f"{what}, and fetching is switched off (--no-fetch); {fix}")
    if fetching.remote not in repo.remotes():
        raise GitError(f"{what}, and this clone has no remote {fetching.remote!r} to fetch from; {fix}")


def _fetch(repo: Repository, fetching: Fetching, args: tuple[str, ...], what: str, fix: str) -> None:
    try:
        repo.fetch(fetching.remote, *args)
    except GitError as exc:
        raise GitError(f"{what}, and fetching from {fetching.remote!r} failed ({exc}); {fix}") from None


def _ordinal_word(number: int) -> str:
    suffixes = {1: "st", 2: "nd", 3: "rd"}
    suffix = "th" if number % 100 in (11, 12, 13) else suffixes.get(number % 10, "th")
    return f"{number}{suffix}"


def _glob_escape(tag: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in tag)
