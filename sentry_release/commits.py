"""Commit association, git side.

Three concerns live here:

* remote URLs: normalise the many spellings of one repository so a local remote can be matched
  against the repositories Sentry knows (``normalize_remote_url``, ``match_repository``);
* ``--commit REPO@[PREV..]SHA`` specs (``parse_commit_spec``);
* local history for ``commits[]`` (``collect_local_commits``): one streamed ``git log`` over
  ``previous..HEAD``, each commit's patch set diffed against its *own* first parent, shallow
  clones deepened on demand, and no made-up "whole tree added" patch sets.

The HTTP side (listing repositories, previous-with-commits, the PUT) lives elsewhere.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator, Sequence

from .errors import GitError, UsageError

# ---------------------------------------------------------------------------------------------
# Field limits of Sentry's CommitSerializer (sentry-api/RULES.md §3.3-3.4)

MAX_SHA_LENGTH = 64
MAX_REPOSITORY_LENGTH = 64
MAX_REF_REPOSITORY_LENGTH = 200
MAX_AUTHOR_NAME_LENGTH = 128
MAX_AUTHOR_EMAIL_LENGTH = 200
MAX_PATH_LENGTH = 510

# Providers whose repositories Sentry can fetch commits for. A repository with no provider (or
# one Sentry does not know) is what `commits[]` uploads create by name; refs sent to it leave the
# release without commits, so it must never count as a match.
KNOWN_PROVIDERS: frozenset[str] = frozenset(
    {
        "github",
        "gitlab",
        "bitbucket",
        "visualstudio",
        "integrations:github",
        "integrations:github_enterprise",
        "integrations:gitlab",
        "integrations:bitbucket",
        "integrations:bitbucket_server",
        "integrations:vsts",
    }
)

# ---------------------------------------------------------------------------------------------
# Remote URLs

_SCHEME_URL = re.compile(r"^(?:[a-z]+\+)?(?:ssh|git|https?)(?:\+[a-z]+)?://(?P<rest>.*)$", re.I)
_SCP_URL = re.compile(r"^(?:[^@/]*@)?(?P<host>[^/:@]+):(?P<path>.*)$")
_AZURE_SSH_HOSTS = ("ssh.dev.azure.com", "vs-ssh.visualstudio.com")
_AZURE_HOST = "dev.azure.com"


def _split_host_and_path(url: str) -> tuple[str, str] | None:
    """(host, path) of a remote URL, case preserved, or None for local paths and junk."""
    url = url.strip()
    scheme_match = _SCHEME_URL.match(url)
    if scheme_match:
        authority, _, path = scheme_match.group("rest").partition("/")
        host = authority.rpartition("@")[2]
        if host.startswith("["):  # IPv6 literal, maybe with a port after the bracket
            host = host[: host.find("]") + 1] if "]" in host else host
        elif ":" in host:
            host, _, port = host.partition(":")
            if port and not port.isdigit():
                # `ssh://git@host:group/repo` is not valid git, but is a common typo of the scp form
                path = f"{port}/{path}"
    elif "://" in url:
        return None  # file:// and unknown schemes cannot name a hosted repository
    else:
        scp_match = _SCP_URL.match(url)
        if not scp_match:
            return None
        host, path = scp_match.group("host"), scp_match.group("path")
    path = _strip_path(path)
    if not host or not path:
        return None
    return host.lower(), path


def _strip_path(path: str) -> str:
    path = path.strip("/")
    if path.lower().endswith(".git"):
        path = path[:-4].rstrip("/")
    return path


def _canonical_location(host: str, path: str) -> tuple[str, str]:
    """Rewrite provider-specific spellings to one form; `path` keeps its case."""
    segments = [s for s in path.split("/") if s]
    azure = _azure_location(host, segments)
    if azure is not None:
        return azure
    bitbucket_server = _bitbucket_server_path(segments)
    if bitbucket_server is not None:
        return host, bitbucket_server
    return host, "/".join(segments)


def _azure_location(host: str, segments: list[str]) -> tuple[str, str] | None:
    """Azure DevOps: ssh v3 URLs, dev.azure.com and ORG.visualstudio.com to ORG/PROJECT/_git/REPO."""
    if host in _AZURE_SSH_HOSTS:
        if len(segments) >= 4 and segments[0].lower() == "v3":
            org, project, repo = segments[1:4]
            return _AZURE_HOST, f"{org}/{project}/_git/{repo}"
        return None
    if host == _AZURE_HOST and segments:
        org, rest = segments[0], segments[1:]
    elif host.endswith(".visualstudio.com"):
        org, rest = host[: -len(".visualstudio.com")], segments
        if rest and rest[0].lower() == "defaultcollection":
            rest = rest[1:]
    else:
        return None
    lowered = [s.lower() for s in rest]
    if "_git" not in lowered:
        return None
    at = lowered.index("_git")
    if at + 1 >= len(rest):
        return None
    repo = rest[at + 1]
    # `ORG/_git/REPO` is the short form for a repository named like its project
    project = rest[at - 1] if at >= 1 else repo
    return _AZURE_HOST, f"{org}/{project}/_git/{repo}"


def _bitbucket_server_path(segments: list[str]) -> str | None:
    """Bitbucket Server web (`projects/P/repos/R/...`) and https clone (`scm/P/R`) forms to P/R."""
    lowered = [s.lower() for s in segments]
    for at in range(len(segments) - 3):
        if lowered[at] in ("projects", "users") and lowered[at + 2] == "repos":
            owner = segments[at + 1]
            if lowered[at] == "users":
                owner = "~" + owner  # personal repositories are cloned as ~user/repo
            return f"{owner}/{segments[at + 3]}"
    if len(segments) == 3 and lowered[0] == "scm":
        return f"{segments[1]}/{segments[2]}"
    return None


def _location(url: str) -> tuple[str, str] | None:
    split = _split_host_and_path(url)
    if split is None:
        return None
    return _canonical_location(*split)


def normalize_remote_url(url: str) -> tuple[str, str] | None:
    """(host, path), lower-cased, user/port/`.git` dropped; None when `url` names no hosted repo."""
    location = _location(url)
    if location is None:
        return None
    host, path = location
    return host, path.lower()


def repository_name_from_remote(url: str) -> str | None:
    """A Sentry-style repository name ("acme/shop", "group/sub/repo") in the remote's own case."""
    location = _location(url)
    if location is None:
        return None
    host, path = location
    if host == _AZURE_HOST:
        path = path.replace("/_git/", "/")
    return path


def _repository_is_usable(repo: dict) -> bool:
    provider = repo.get("provider") or {}
    provider_id = provider.get("id") if isinstance(provider, dict) else None
    status = repo.get("status") or "active"
    return status == "active" and provider_id in KNOWN_PROVIDERS and bool(repo.get("url"))


def match_repository(remote_url: str, repos: Iterable[dict]) -> dict | None:
    """The first active Sentry repository with a real provider whose URL names `remote_url`."""
    wanted = normalize_remote_url(remote_url)
    if wanted is None:
        return None
    for repo in repos:
        if _repository_is_usable(repo) and normalize_remote_url(repo["url"]) == wanted:
            return repo
    return None


# ---------------------------------------------------------------------------------------------
# --commit specs


def parse_commit_spec(spec: str) -> dict:
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
# Running git

_FETCH_TIMEOUT_SECONDS = 600


def _git_env() -> dict[str, str]:
    # Never stop a CI job on a credentials prompt.
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0"}


def _run_git(
    repo_dir: Path, *args: str, check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(
            ["git", "-C", str(repo_dir), *args],
            capture_output=True, env=_git_env(), timeout=timeout,
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH; install git to read commits") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"`git {' '.join(args)}` took longer than {timeout:.0f} s; check the network") from None
    if check and result.returncode != 0:
        raise GitError(f"`git {' '.join(args)}` failed in {repo_dir}: {_first_line(result.stderr)}")
    return result


def _first_line(stderr: bytes) -> str:
    text = stderr.decode("utf-8", errors="replace").strip()
    return text.splitlines()[0] if text else "no error output"


def _stdout(result: subprocess.CompletedProcess) -> str:
    return result.stdout.decode("utf-8", errors="replace").strip()


def remote_url(repo_dir: Path, remote: str = "origin") -> str | None:
    """The fetch URL of `remote` (after `insteadOf` rewriting), or None if there is none."""
    if remote.startswith("-"):
        return None
    result = _run_git(Path(repo_dir), "remote", "get-url", remote, check=False)
    url = _stdout(result)
    return url if result.returncode == 0 and url else None


def _resolve_commit(repo_dir: Path, revision: str) -> str | None:
    if not revision or revision.startswith("-"):
        return None
    result = _run_git(repo_dir, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
    return _stdout(result) if result.returncode == 0 else None


def _is_ancestor(repo_dir: Path, ancestor: str, descendant: str) -> bool:
    result = _run_git(repo_dir, "merge-base", "--is-ancestor", ancestor, descendant, check=False)
    if result.returncode not in (0, 1):
        raise GitError(f"git could not compare {ancestor[:12]} with {descendant[:12]}: {_first_line(result.stderr)}")
    return result.returncode == 0


def _is_shallow(repo_dir: Path) -> bool:
    return _stdout(_run_git(repo_dir, "rev-parse", "--is-shallow-repository")) == "true"


def _shallow_commits(repo_dir: Path) -> frozenset[str]:
    """Commits whose parents a shallow clone cut off (their history is not local)."""
    shallow_file = Path(_stdout(_run_git(repo_dir, "rev-parse", "--path-format=absolute", "--git-path", "shallow")))
    try:
        return frozenset(shallow_file.read_text().split())
    except FileNotFoundError:
        return frozenset()


def _range_commits(repo_dir: Path, previous: str, head: str) -> list[str]:
    return _stdout(_run_git(repo_dir, "rev-list", f"{previous}..{head}")).split()


# ---------------------------------------------------------------------------------------------
# The streamed log

# Each record starts with RS so a new commit can never be mistaken for a status letter.
_RECORD_START = b"\x1e"
_LOG_FORMAT = "%x1e%H%x00%P%x00%aN%x00%aE%x00%aI%x00%B"
_HEADER_FIELDS = 6
_READ_SIZE = 1 << 16
# `git diff --name-status` letters to Sentry's A/M/D; renames and copies carry two paths.
_TYPE_FOR_STATUS = {"A": "A", "M": "M", "D": "D", "T": "M", "C": "A"}


def _log_command(repo_dir: Path, revisions: Sequence[str]) -> list[str]:
    # `-c` and the --no-* flags pin down every config knob that would change the output we parse.
    return [
        "git", "-C", str(repo_dir), "-c", "log.showRoot=true",
        "log", "-z", f"--format={_LOG_FORMAT}", "--encoding=UTF-8",
        "--name-status", "--no-renames", "--diff-merges=first-parent", "--no-relative",
        "--no-show-signature", "--no-color", "--no-ext-diff", "--no-textconv",
        *revisions, "--",
    ]


def _tokens(stream: IO[bytes]) -> Iterator[bytes]:
    """NUL-separated tokens of `stream`, read in chunks."""
    pending = b""
    while True:
        chunk = stream.read(_READ_SIZE)
        if not chunk:
            break
        pieces = (pending + chunk).split(b"\0")
        pending = pieces.pop()
        yield from pieces
    if pending:
        yield pending


@dataclass
class _RawCommit:
    sha: str
    parents: list[str]
    author_name: str
    author_email: str
    timestamp: str
    message: str
    changes: list[tuple[str, str]] = field(default_factory=list)  # (Sentry type, path)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _parse_log(stream: IO[bytes]) -> Iterator[_RawCommit]:
    """Commits of `git log -z --format=_LOG_FORMAT --name-status`, as they arrive."""
    tokens = _tokens(stream)
    current: _RawCommit | None = None
    for token in tokens:
        if token.startswith(_RECORD_START):
            if current is not None:
                yield current
            current = _read_header(token[1:], tokens)
            continue
        if current is None:
            raise GitError("unexpected output from `git log`; is this a git repository?")
        # the diff section is separated from the message by a newline that sticks to its first token
        status = _decode(token.lstrip(b"\n"))
        if not status:
            continue
        paths = [_decode(next(tokens, b""))]
        if status[0] in "RC":
            paths.append(_decode(next(tokens, b"")))
        current.changes.extend(_changes_for(status[0], paths))
    if current is not None:
        yield current


def _read_header(sha: bytes, tokens: Iterator[bytes]) -> _RawCommit:
    fields = [sha] + [next(tokens, b"") for _ in range(_HEADER_FIELDS - 1)]
    sha_text, parents, name, email, timestamp, message = (_decode(f) for f in fields)
    return _RawCommit(
        sha=sha_text, parents=parents.split(), author_name=name, author_email=email,
        timestamp=timestamp, message=message.rstrip(),
    )


def _changes_for(status: str, paths: list[str]) -> list[tuple[str, str]]:
    if status == "R":  # only if renames slip through despite --no-renames: D old + A new
        return [("D", paths[0]), ("A", paths[1])]
    if status == "C":
        return [("A", paths[1])]
    return [(_TYPE_FOR_STATUS.get(status, "M"), paths[0])]


class _LogStream:
    """One `git log` process whose stdout is parsed while git is still walking."""

    def __init__(self, repo_dir: Path, revisions: Sequence[str]) -> None:
        self._stderr = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                _log_command(repo_dir, revisions), stdout=subprocess.PIPE,
                stderr=self._stderr, env=_git_env(),
            )
        except FileNotFoundError:
            self._stderr.close()
            raise GitError("git is not installed or not on PATH; install git to read commits") from None
        self._finished = False

    def commits(self) -> Iterator[_RawCommit]:
        assert self._process.stdout is not None
        yield from _parse_log(self._process.stdout)
        self._finished = True

    def close(self) -> None:
        """Wait for git; stop it early when the caller has read enough; raise if it failed."""
        if not self._finished:
            self._process.kill()
        if self._process.stdout is not None:
            self._process.stdout.close()
        returncode = self._process.wait()
        self._stderr.seek(0)
        stderr = self._stderr.read()
        self._stderr.close()
        if self._finished and returncode != 0:
            raise GitError(f"`git log` failed: {_first_line(stderr)}")


# ---------------------------------------------------------------------------------------------
# Building Sentry commits


@dataclass
class LocalCommits:
    commits: list[dict]  # Sentry commits[] payload, newest first
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


def _repo_relative_prefixes(repo_dir: Path, paths: Sequence[str]) -> list[str]:
    """`paths` are relative to `repo_dir` (or absolute); turn them into repository paths."""
    if not paths:
        return []
    top = Path(_stdout(_run_git(repo_dir, "rev-parse", "--show-toplevel"))).resolve()
    prefixes = []
    for raw in paths:
        candidate = Path(raw) if os.path.isabs(raw) else Path(repo_dir) / raw
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


def _patch_set(raw: _RawCommit, counters: _Counters) -> list[dict]:
    patch_set = []
    for change_type, path in raw.changes:
        if len(path) > MAX_PATH_LENGTH:
            counters.long_paths += 1
            continue
        patch_set.append({"path": path, "type": change_type})
    return patch_set


def _sentry_commit(raw: _RawCommit, repository: str, shallow: frozenset[str], counters: _Counters) -> dict:
    # Without a name Sentry files the commits under its per-organization default repository.
    commit: dict = {"id": raw.sha, "repository": repository} if repository else {"id": raw.sha}
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
    repo_dir: Path,
    revisions: Sequence[str],
    *,
    repository: str,
    path_filter: _PathFilter,
    shallow: frozenset[str],
    limit: int | None,
    notes: list[str],
) -> list[dict]:
    """Run the one `git log` and turn its records into Sentry commits (newest first)."""
    counters = _Counters()
    commits: list[dict] = []
    stream = _LogStream(repo_dir, revisions)
    try:
        for raw in stream.commits():
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


def _previous_in_range(repo_dir: Path, previous: str, head: str) -> str | None:
    """The full sha of `previous` if the whole range previous..head is in local history."""
    resolved = _resolve_commit(repo_dir, previous)
    if resolved is None or not _is_ancestor(repo_dir, resolved, head):
        return None
    shallow = _shallow_commits(repo_dir)
    if shallow and shallow.intersection(_range_commits(repo_dir, resolved, head)):
        return None  # a merged side branch still crosses the shallow boundary
    return resolved


def _deepen_steps(max_steps: int) -> list[list[str]]:
    """`--deepen` arguments growing 50, 100, 200, …; the last step fetches the rest of history."""
    steps = [[f"--deepen={50 * 2 ** i}"] for i in range(max(max_steps - 1, 0))]
    if max_steps >= 1:
        steps.append(["--unshallow"])
    return steps


def _deepen_until_found(
    repo_dir: Path, previous: str, head: str, *, remote: str, max_steps: int,
    log: Callable[[str], None], notes: list[str],
) -> str | None:
    """Fetch more history step by step until `previous..head` is complete locally."""
    fetched = 0
    for step in _deepen_steps(max_steps):
        if not _is_shallow(repo_dir):
            break
        log(f"history back to the previous release commit {previous[:12]} is cut off by the shallow clone; "
            f"git fetch {step[0]} {remote}")
        result = _run_git(repo_dir, "fetch", "--quiet", *step, remote, check=False, timeout=_FETCH_TIMEOUT_SECONDS)
        if result.returncode != 0:
            notes.append(f"could not deepen the clone from {remote!r}: {_first_line(result.stderr)}")
            return None
        fetched += 1
        found = _previous_in_range(repo_dir, previous, head)
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


def _resolve_head(repo_dir: Path, head: str) -> str:
    resolved = _resolve_commit(repo_dir, head)
    if resolved is None:
        raise GitError(f"{head!r} does not name a commit in {repo_dir}; run inside a git checkout with commits")
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
    repo_dir = Path(repo_dir)
    _check_arguments(repository, initial_depth)
    head_sha = _resolve_head(repo_dir, head)
    path_filter = _PathFilter(_repo_relative_prefixes(repo_dir, paths))
    notes: list[str] = []

    base = _find_previous(
        repo_dir, previous, head_sha, head=head, remote=remote, deepen=deepen,
        max_deepen_steps=max_deepen_steps, ignore_missing=ignore_missing, log=log, notes=notes,
    )
    shallow = _shallow_commits(repo_dir)
    if base is not None:
        if base == head_sha:
            notes.append(f"{head} is the previous release commit; there are no new commits")
            return LocalCommits([], base, notes)
        commits = _walk(
            repo_dir, [f"{base}..{head_sha}"], repository=repository, path_filter=path_filter,
            shallow=shallow, limit=None, notes=notes,
        )
        return LocalCommits(commits, base, notes)

    if previous is None:
        notes.append(f"no previous release commit; using the newest {initial_depth} commit(s)")
    # Without a path filter git can stop after N commits itself; with one we stop reading.
    revisions = [head_sha] if path_filter else [f"--max-count={initial_depth}", head_sha]
    commits = _walk(
        repo_dir, revisions, repository=repository, path_filter=path_filter,
        shallow=shallow, limit=initial_depth, notes=notes,
    )
    return LocalCommits(commits, None, notes)


def _find_previous(
    repo_dir: Path, previous: str | None, head_sha: str, *, head: str, remote: str, deepen: bool,
    max_deepen_steps: int, ignore_missing: bool, log: Callable[[str], None], notes: list[str],
) -> str | None:
    """The range base, deepening a shallow clone if needed; None means "use the initial depth"."""
    if previous is None:
        return None
    found = _previous_in_range(repo_dir, previous, head_sha)
    if found is not None:
        return found
    deepened = False
    if deepen and _is_shallow(repo_dir):
        deepened = True
        found = _deepen_until_found(
            repo_dir, previous, head_sha, remote=remote, max_steps=max_deepen_steps, log=log, notes=notes,
        )
        if found is not None:
            return found
    message = _missing_previous_message(previous, head, _is_shallow(repo_dir), deepened)
    if not ignore_missing:
        raise GitError(message)
    notes.append(f"{message.split(';')[0]}; --ignore-missing: using the newest commits instead")
    return None


def is_rollback(repo_dir: Path, head: str, previous: str) -> bool:
    """Whether `head` is an older commit on the line `previous` came from (deploying it goes back)."""
    resolved = _resolve_commit(Path(repo_dir), previous)
    return resolved is not None and resolved != head and _is_ancestor(Path(repo_dir), head, resolved)
