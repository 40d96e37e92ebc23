"""`git log -z --name-status` read as it streams: one record per commit, its changed paths as
Sentry's A/M/D. The arguments pin down every config knob that would change the output parsed here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Iterator, Sequence

from sentry_release.errors import GitError

# Each record starts with RS so a new commit can never be mistaken for a status letter.
_RECORD_START = b"\x1e"
_LOG_FORMAT = "%x1e%H%x00%P%x00%aN%x00%aE%x00%aI%x00%B"
_HEADER_FIELDS = 6
_READ_SIZE = 1 << 16
# `git diff --name-status` letters to Sentry's A/M/D; renames and copies carry two paths.
_TYPE_FOR_STATUS = {"A": "A", "M": "M", "D": "D", "T": "M", "C": "A"}


def log_arguments(revisions: Sequence[str]) -> list[str]:
    # `-c` and the --no-* flags pin down every config knob that would change the output we parse.
    return [
        "-c", "log.showRoot=true",
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
class RawCommit:
    sha: str
    parents: list[str]
    author_name: str
    author_email: str
    timestamp: str
    message: str
    changes: list[tuple[str, str]] = field(default_factory=list)  # (Sentry type, path)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def parse_log(stream: IO[bytes]) -> Iterator[RawCommit]:
    """Commits of `git log -z --format=_LOG_FORMAT --name-status`, as they arrive."""
    tokens = _tokens(stream)
    current: RawCommit | None = None
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


def _read_header(sha: bytes, tokens: Iterator[bytes]) -> RawCommit:
    fields = [sha] + [next(tokens, b"") for _ in range(_HEADER_FIELDS - 1)]
    sha_text, parents, name, email, timestamp, message = (_decode(f) for f in fields)
    return RawCommit(
        sha=sha_text, parents=parents.split(), author_name=name, author_email=email,
        timestamp=timestamp, message=message.rstrip(),
    )


def _changes_for(status: str, paths: list[str]) -> list[tuple[str, str]]:
    if status == "R":  # only if renames slip through despite --no-renames: D old + A new
        return [("D", paths[0]), ("A", paths[1])]
    if status == "C":
        return [("A", paths[1])]
    return [(_TYPE_FOR_STATUS.get(status, "M"), paths[0])]
