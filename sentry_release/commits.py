"""Commit association, git side.

Two concerns live here (remote URLs and their matching are in ``remotes``):

* ``--commit REPO@[PREV..]SHA`` specs (``parse_commit_spec``);
* local history for ``commits[]`` (``collect_local_commits``): one streamed ``git log`` (``gitlog``) over
  ``previous..HEAD``, each commit's patch set diffed against its *own* first parent, shallow
  clones deepened on demand, and no made-up "whole tree added" patch sets.

The HTTP side (listing repositories, previous-with-commits, the PUT) lives elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from sentry_release.errors import GitError, UsageError
from sentry_release.git import Repository
from sentry_release.gitlog import RawCommit, log_arguments, parse_log

# ---------------------------------------------------------------------------------------------
# Field limits of Sentry's CommitSerializer (sentry-api/RULES.md §3.3-3.4)

MAX_SHA_LENGTH = 64
MAX_REPOSITORY_LENGTH = 64
MAX_REF_REPOSITORY_LENGTH = 200
MAX_AUTHOR_NAME_LENGTH = 128
MAX_AUTHOR_EMAIL_LENGTH = 200
MAX_PATH_LENGTH = 510

# ---------------------------------------------------------------------------------------------
# --commit specs


def parse_commit_spec(spec: str) -> dict[str, str | None]:
    """`REPO@SHA` or `REPO@PREV..SHA` to a Sentry ref; the strings go to the server unresolved."""
    repository, at, revision = spec.rpartition("@")
    repository = repository.strip()
    revision = revision.strip()
    if not at or not repository or not revision:
        raise UsageError(f"--commit {spec!r}: write it as REPOSITORY@SHA or REPOSITORY@PREVIOUS..SHA")
    if len(repository) > MAX_REF_REPOSITORY_LENGTH:
        raise UsageError(
            f"--commit {spec!r}: the repository name is longer than {MAX_REF_REPOSITORY_LENGTH} characters"
        )
    previous: str | None = None
    commit = revision
    if ".." in revision:
        previous, _, commit = revision.rpartition("..")
        if not previous or not commit or previous.endswith(".") or ".." in previous:
            raise UsageError(f"--commit {spec!r}: a range needs both ends, as PREVIOUS..SHA")
    for sha in (previous, commit):
        if sha is not None and len(sha) > MAX_SHA_LENGTH:
            raise UsageError(f"--commit {spec!r}: {sha!r} is longer than {MAX_SHA_LENGTH} characters")
    return {"repository": repository, "commit": commit, "previousCommit": previous}


# ---------------------------------------------------------------------------------------------
# Building Sentry commits


@dataclass
class LocalCommits:
    commits: list[dict[str, Any]]  # Sentry commits[] payload, newest first
    previous: str | None  # the previous release commit used as the range base, if found
    notes: list[str] = field(default_factory=list)  # why a fallback was taken, what was left out


@dataclass
class _Counters:
    shallow_boundaries: int = 0
    long_paths: int = 0


class _PathFilter:
    """Repository-relative directory or file prefixes; an empty filter keeps everything."""

    def __init__(self, prefixes: Sequence[str]) -> None:
        self.prefixes = tuple(prefixes)

    def __bool__(self) -> bool:
        return bool(self.prefixes)

    def touches(self, changed_paths: Iterable[str]) -> bool:
        return any(self._matches(p) for p in changed_paths)

    def _matches(self, path: str) -> bool:
        return any(p == "" or path == p or path.startswith(p + "/") for p in self.prefixes)


def _repo_relative_prefixes(repo: Repository, paths: Sequence[str]) -> list[str]:
    """`paths` are relative to `repo.root` (or absolute); turn them into repository paths."""
    if not paths:
        return []
    top = Path(repo.git("rev-parse", "--show-toplevel")).resolve()
    prefixes = []
    for raw in paths:
        candidate = Path(raw) if os.path.isabs(raw) else repo.root / raw
        absolute = Path(os.path.normpath(str(candidate.absolute())))
        try:
            relative = absolute.relative_to(top)
        except ValueError:
            try:
                relative = absolute.resolve().relative_to(top)
            except ValueError:
                raise UsageError(f"--path {raw!r} is outside the repository at {top}") from None
        prefixes.append(relative.as_posix().strip("/") if str(relative) != "." else "")
    return prefixes


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit]


def _patch_set(raw: RawCommit, counters: _Counters) -> list[dict[str, Any]]:
    patch_set = []
    for change_type, path in raw.changes:
        if len(path) > MAX_PATH_LENGTH:
            counters.long_paths += 1
            continue
        patch_set.append({"path": path, "type": change_type})
    return patch_set


def _sentry_commit(raw: RawCommit, repository: str, shallow: frozenset[str], counters: _Counters) -> dict[str, Any]:
    # Without a name Sentry files the commits under its per-organization default repository.
    commit: dict[str, Any] = {"id": raw.sha, "repository": repository} if repository else {"id": raw.sha}
    if raw.author_name:
        commit["author_name"] = _truncate(raw.author_name, MAX_AUTHOR_NAME_LENGTH)
    if raw.author_email:
        commit["author_email"] = _truncate(raw.author_email, MAX_AUTHOR_EMAIL_LENGTH)
    commit["timestamp"] = raw.timestamp
    if raw.message:
        commit["message"] = raw.message
    if raw.sha in shallow:
        # git diffs a shallow boundary against the empty tree: every file "added" would be a lie
        counters.shallow_boundaries += 1
    else:
        commit["patch_set"] = _patch_set(raw, counters)
    return commit


def _walk(
    repo: Repository,
    revisions: Sequence[str],
    *,
    repository: str,
    path_filter: _PathFilter,
    shallow: frozenset[str],
    limit: int | None,
    notes: list[str],
) -> list[dict[str, Any]]:
    """Run the one `git log` and turn its records into Sentry commits (newest first)."""
    counters = _Counters()
    commits: list[dict[str, Any]] = []
    stream = repo.stream(log_arguments(revisions))
    try:
        for raw in stream.read(parse_log):
            # a shallow boundary's real changes are unknown: keep it rather than guess it away
            if path_filter and raw.sha not in shallow and not path_filter.touches(p for _, p in raw.changes):
                continue
            commits.append(_sentry_commit(raw, repository, shallow, counters))
            if limit is not None and len(commits) >= limit:
                break
    finally:
        stream.close()
    _add_walk_notes(counters, notes)
    return commits


def _add_walk_notes(counters: _Counters, notes: list[str]) -> None:
    if counters.shallow_boundaries:
        notes.append(
            f"{counters.shallow_boundaries} commit(s) sit on the shallow clone boundary (parent not "
            "fetched); sent without a patch set instead of listing every file as added"
        )
    if counters.long_paths:
        notes.append(
            f"left out {counters.long_paths} changed path(s) longer than {MAX_PATH_LENGTH} characters "
            "(Sentry's limit)"
        )


# ---------------------------------------------------------------------------------------------
# Finding the previous release commit, deepening shallow clones


def _previous_in_range(repo: Repository, previous: str, head: str) -> str | None:
    """The full sha of `previous` if the whole range previous..head is in local history."""
    resolved = repo.resolve(previous)
    if resolved is None or not repo.is_ancestor(resolved, head):
        return None
    shallow = repo.shallow_commits()
    if shallow and shallow.intersection(repo.rev_list(f"{resolved}..{head}")):
        return None  # a merged side branch still crosses the shallow boundary
    return resolved


def _deepen_steps(max_steps: int) -> list[list[str]]:
    """`--deepen` arguments growing 50, 100, 200, …; the last step fetches the rest of history."""
    steps = [[f"--deepen={50 * 2 ** i}"] for i in range(max(max_steps - 1, 0))]
    if max_steps >= 1:
        steps.append(["--unshallow"])
    return steps


def _deepen_until_found(
    repo: Repository, previous: str, head: str, *, remote: str, max_steps: int,
    log: Callable[[str], None], notes: list[str],
) -> str | None:
    """Fetch more history step by step until `previous..head` is complete locally."""
    fetched = 0
    for step in _deepen_steps(max_steps):
        if not repo.shallow:
            break
        log(f"history back to the previous release commit {previous[:12]} is cut off by the shallow clone; "
            f"git fetch {step[0]} {remote}")
        try:
            repo.fetch(remote, *step)
        except GitError as exc:
            notes.append(f"could not deepen the clone from {remote!r}: {exc}")
            return None
        fetched += 1
        found = _previous_in_range(repo, previous, head)
        if found is not None:
            notes.append(f"deepened the shallow clone {fetched} time(s) to reach the previous release commit")
            return found
    if fetched:
        notes.append(f"deepened the shallow clone {fetched} time(s) without reaching {previous[:12]}")
    return None


def _missing_previous_message(previous: str, head: str, shallow: bool, deepened: bool) -> str:
    base = f"the previous release commit {previous[:12]} is not in the history of {head}"
    if shallow:
        return (
            f"{base} (shallow clone); fetch full history: set fetch-depth: 0 in actions/checkout, "
            "or GIT_DEPTH: 0 in GitLab, or pass --ignore-missing"
        )
    why = "even after fetching the full history" if deepened else "in this clone"
    return (
        f"{base} {why}; it was probably rebased, squashed or force-pushed away: pass "
        "--ignore-missing to send the newest commits instead"
    )


# ---------------------------------------------------------------------------------------------
# Entry point


def _check_arguments(repository: str, initial_depth: int) -> None:
    if len(repository) > MAX_REPOSITORY_LENGTH:
        raise UsageError(
            f"repository name {repository!r} is longer than {MAX_REPOSITORY_LENGTH} characters, "
            "Sentry's limit for commits; choose a shorter name"
        )
    if initial_depth < 1:
        raise UsageError(f"--initial-depth must be at least 1, not {initial_depth}")


def _resolve_head(repo: Repository, head: str) -> str:
    resolved = repo.resolve(head)
    if resolved is None:
        raise GitError(f"{head!r} does not name a commit in {repo.root}; run inside a git checkout with commits")
    return resolved


def collect_local_commits(
    repo_dir: Path,
    *,
    previous: str | None,
    repository: str,
    initial_depth: int = 20,
    paths: Sequence[str] = (),
    remote: str = "origin",
    deepen: bool = True,
    max_deepen_steps: int = 8,
    ignore_missing: bool = False,
    log: Callable[[str], None] = lambda s: None,
    head: str = "HEAD",
) -> LocalCommits:
    """Commits for Sentry's `commits[]`: `previous..head`, or the newest `initial_depth`.

    `paths` keeps only commits whose own patch set touches one of these directories/files
    (relative to `repo_dir`); kept commits carry their full patch set, since Sentry uses it to
    suggest suspect commits for any file.
    """
    repo = Repository(Path(repo_dir))
    _check_arguments(repository, initial_depth)
    head_sha = _resolve_head(repo, head)
    path_filter = _PathFilter(_repo_relative_prefixes(repo, paths))
    notes: list[str] = []

    base = _find_previous(
        repo, previous, head_sha, head=head, remote=remote, deepen=deepen,
        max_deepen_steps=max_deepen_steps, ignore_missing=ignore_missing, log=log, notes=notes,
    )
    shallow = repo.shallow_commits()
    if base is not None:
        if base == head_sha:
            notes.append(f"{head} is the previous release commit; there are no new commits")
            return LocalCommits([], base, notes)
        commits = _walk(
            repo, [f"{base}..{head_sha}"], repository=repository, path_filter=path_filter,
            shallow=shallow, limit=None, notes=notes,
        )
        return LocalCommits(commits, base, notes)

    if previous is None:
        notes.append(f"no previous release commit; using the newest {initial_depth} commit(s)")
    # Without a path filter git can stop after N commits itself; with one we stop reading.
    revisions = [head_sha] if path_filter else [f"--max-count={initial_depth}", head_sha]
    commits = _walk(
        repo, revisions, repository=repository, path_filter=path_filter,
        shallow=shallow, limit=initial_depth, notes=notes,
    )
    return LocalCommits(commits, None, notes)


def _find_previous(
    repo: Repository, previous: str | None, head_sha: str, *, head: str, remote: str, deepen: bool,
    max_deepen_steps: int, ignore_missing: bool, log: Callable[[str], None], notes: list[str],
) -> str | None:
    """The range base, deepening a shallow clone if needed; None means "use the initial depth"."""
    if previous is None:
        return None
    found = _previous_in_range(repo, previous, head_sha)
    if found is not None:
        return found
    deepened = False
    if deepen and repo.shallow:
        deepened = True
        found = _deepen_until_found(
            repo, previous, head_sha, remote=remote, max_steps=max_deepen_steps, log=log, notes=notes,
        )
        if found is not None:
            return found
    message = _missing_previous_message(previous, head, repo.shallow, deepened)
    if not ignore_missing:
        raise GitError(message)
    notes.append(f"{message.split(';')[0]}; --ignore-missing: using the newest commits instead")
    return None


def is_rollback(repo_dir: Path, head: str, previous: str) -> bool:
    """Whether `head` is an older commit on the line `previous` came from (deploying it goes back)."""
    repo = Repository(Path(repo_dir))
    resolved = repo.resolve(previous)
    return resolved is not None and resolved != head and repo.is_ancestor(head, resolved)
