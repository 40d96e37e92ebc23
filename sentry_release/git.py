"""The one way git runs: one environment, a timeout, one error type, and the repository object.

Plain `git` plumbing through subprocess: a handful of short calls costs a few milliseconds,
where importing GitPython and opening a repository cost over 100 ms on every run.
Every call gets `LC_ALL=C` (so messages we read are English), `GIT_TERMINAL_PROMPT=0` and no stdin
(so a CI job never stops on a credentials prompt), and a timeout.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Callable, Iterator, Optional, Sequence, TypeVar

from sentry_release.errors import GitError

LOCAL_TIMEOUT_SECONDS = 300.0
NETWORK_TIMEOUT_SECONDS = 600.0
T = TypeVar("T")
_DUBIOUS = re.compile(r"detected dubious ownership in repository at '(?P<path>[^']*)'")


def _git_env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(cwd: Path, *args: str, check: bool = True, timeout: float = LOCAL_TIMEOUT_SECONDS) -> Completed:
    """Run `git args` in `cwd`. With `check`, a non-zero exit raises GitError naming the command."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL,
                                env=_git_env(), timeout=timeout)
    except (FileNotFoundError, NotADirectoryError):
        if not Path(cwd).is_dir():
            raise GitError(f"{cwd} is not a directory") from None
        raise GitError("git is not installed or not on PATH; install git") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"`git {_shown(args)}` took longer than {timeout:.0f} s; check the network") from None
    done = Completed(result.returncode, _decode(result.stdout).strip(), _decode(result.stderr))
    if not done.ok:
        refused = dubious_ownership(done.stderr)
        if refused is not None:
            raise refused
        if check:
            raise GitError(f"`git {_shown(args)}` failed in {cwd}: {_first_line(done.stderr)}")
    return done


def dubious_ownership(stderr: str) -> Optional[GitError]:
    """git's refusal of a repository owned by another user, as one line with the fix."""
    found = _DUBIOUS.search(stderr)
    if found is None:
        return None
    path = found.group("path")
    return GitError(f"git refuses the repository at {path}: it is owned by another user (detected dubious "
                    f"ownership); if you trust it, run: git config --global --add safe.directory {path}")


def _first_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no error output"


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _shown(args: Sequence[str]) -> str:
    return " ".join(args)


@dataclass(frozen=True)
class Head:
    sha: str
    committed_at: datetime      # UTC
    branch: Optional[str]


@dataclass(frozen=True)
class FirstParent:
    sha: str
    committed_at: datetime      # UTC


class Repository:
    """A git work tree, asked through `run`. Facts that a fetch can change are read live."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def git(self, *args: str, timeout: float = LOCAL_TIMEOUT_SECONDS) -> str:
        return run(self.root, *args, timeout=timeout).stdout

    def ask(self, *args: str) -> Completed:
        """Run git where a non-zero exit is an answer, not a failure."""
        return run(self.root, *args, check=False)

    @property
    def shallow(self) -> bool:
        return self.git("rev-parse", "--is-shallow-repository") == "true"

    def shallow_commits(self) -> frozenset[str]:
        """Commits whose parents a shallow clone cut off (their history is not local)."""
        shallow_file = Path(self.git("rev-parse", "--path-format=absolute", "--git-path", "shallow"))
        try:
            return frozenset(shallow_file.read_text().split())
        except FileNotFoundError:
            return frozenset()

    def head(self) -> Optional[Head]:
        """HEAD's sha, commit date in UTC and branch; None for a repository with no commits."""
        found = self.ask("log", "-1", "--no-show-signature", "--format=%H %ct", "HEAD")
        if not found.ok or len(found.stdout.split()) != 2:
            return None  # unborn branch
        sha, stamp = found.stdout.split()
        branch = self.ask("symbolic-ref", "--quiet", "--short", "HEAD")
        return Head(sha, _utc(stamp), branch.stdout if branch.ok else None)

    def nearest_tag(self, excluded: Sequence[str]) -> Optional[str]:
        """The nearest tag reachable from HEAD, leaving out the `excluded` globs; None when none is."""
        found = self.ask("describe", "--tags", "--abbrev=0", *[f"--exclude={t}" for t in excluded])
        return found.stdout if found.ok and found.stdout else None

    def remotes(self) -> list[str]:
        return self.git("remote").split()

    def remote_url(self, name: str = "origin") -> Optional[str]:
        """The fetch URL of remote `name` (after `insteadOf` rewriting), or None if there is none."""
        if name.startswith("-"):
            return None
        found = self.ask("remote", "get-url", name)
        return found.stdout if found.ok and found.stdout else None

    def remote_tags(self, remote: str) -> list[str]:
        """Tag names on `remote` (one network round trip, no objects fetched)."""
        listed = run(self.root, "ls-remote", "--tags", "--refs", remote, timeout=NETWORK_TIMEOUT_SECONDS).stdout
        return [line.split("refs/tags/", 1)[1] for line in listed.splitlines() if "refs/tags/" in line]

    def resolve(self, rev: str) -> Optional[str]:
        """The full sha of the commit `rev` names, or None."""
        if not rev or rev.startswith("-"):
            return None
        found = self.ask("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        return found.stdout if found.ok else None

    def parent(self, sha: str) -> Optional[str]:
        """The first parent of `sha`, or None for a root commit or one not in this clone."""
        return self.resolve(f"{sha}^") if sha and not sha.startswith("-") else None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        found = self.ask("merge-base", "--is-ancestor", ancestor, descendant)
        if found.returncode not in (0, 1):
            raise GitError(f"git could not compare {ancestor[:12]} with {descendant[:12]}: "
                           f"{_first_line(found.stderr)}")
        return found.ok

    def rev_list(self, revisions: str) -> list[str]:
        return self.git("rev-list", revisions).split()

    def first_parents(self, start: str, skip: int, count: int) -> list[FirstParent]:
        """`count` commits of `start`'s first-parent line, newest first, after skipping `skip`."""
        listed = self.git("log", "--first-parent", "--no-show-signature", "--format=%H %ct", f"--skip={skip}",
                          f"--max-count={count}", start, "--")
        return [FirstParent(sha, _utc(stamp)) for sha, stamp in (line.split() for line in listed.splitlines())]

    def fetch(self, remote: str, *args: str) -> None:
        """`git fetch --quiet ARGS REMOTE`; raises GitError with git's reason when it fails."""
        run(self.root, "fetch", "--quiet", *args, remote, timeout=NETWORK_TIMEOUT_SECONDS)

    def stream(self, args: Sequence[str]) -> GitStream:
        return GitStream(self.root, args)


def open_repository(path: Path) -> Optional[Repository]:
    """The repository containing `path`; None when there is none. Raises when git refuses it."""
    found = run(path, "rev-parse", "--show-toplevel", check=False)
    return Repository(Path(found.stdout)) if found.ok and found.stdout else None


def _utc(stamp: str) -> datetime:
    return datetime.fromtimestamp(int(stamp), tz=timezone.utc)


class GitStream:
    """One git process whose stdout is read while git is still working (the long `git log`)."""

    def __init__(self, cwd: Path, args: Sequence[str]) -> None:
        self._args = list(args)
        self._stderr = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(["git", "-C", str(cwd), *args], stdout=subprocess.PIPE,
                                             stderr=self._stderr, stdin=subprocess.DEVNULL, env=_git_env())
        except FileNotFoundError:
            self._stderr.close()
            raise GitError("git is not installed or not on PATH; install git") from None
        self._finished = False

    @property
    def stdout(self) -> IO[bytes]:
        assert self._process.stdout is not None
        return self._process.stdout

    def read(self, parse: Callable[[IO[bytes]], Iterator[T]]) -> Iterator[T]:
        """What `parse` makes of git's stdout, as it arrives; notes when it was read to the end."""
        yield from parse(self.stdout)
        self._finished = True

    def close(self) -> None:
        """Wait for git; stop it early when the caller has read enough; raise if it failed."""
        if not self._finished:
            self._process.kill()
        self.stdout.close()
        returncode = self._process.wait()
        self._stderr.seek(0)
        stderr = _decode(self._stderr.read())
        self._stderr.close()
        if self._finished and returncode != 0:
            raise dubious_ownership(stderr) or GitError(
                f"`git {_subcommand(self._args)}` failed: {_first_line(stderr)}")


def _subcommand(args: Sequence[str]) -> str:
    """`log` of `-c log.showRoot=true log -z ...`: what to name in an error."""
    rest = list(args)
    while rest[:1] in (["-c"], ["-C"]):
        rest = rest[2:]
    return rest[0] if rest else ""
