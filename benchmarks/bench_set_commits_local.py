"""Benchmark: local commit collection over a 10,000-commit range.

Generates (once, cached in a temp folder) a repository of N commits that add, modify and delete
files, then times `collect_local_commits` over the whole range (previous = the root commit) and
prints median wall time and peak memory.

    /work/venv/bin/python benchmarks/bench_set_commits_local.py [--commits 10000] [--runs 5]

Comparing with sentry-cli 3.8.2 (`releases set-commits --local`) needs a Sentry server whose
`previous-with-commits` answers `lastCommit.id` = the root commit this script prints, and whose
`/repos/` lists no repository with a provider (so sentry-cli takes its local path):

    benchmarks/bench_set_commits_local.py --sentry-cli $(which sentry-cli) --url http://127.0.0.1:PORT \
        --org ORG --auth-token TOKEN --release VERSION

Runs then alternate (ours, sentry-cli, ours, …). sentry-cli's figure includes its HTTP requests
(repos, previous-with-commits, PUT); ours is the git side only. Keep-alive is switched on for
sentry-cli through a SENTRY_PROPERTIES file, as it is over https in real use.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sentry_release.commits import collect_local_commits  # noqa: E402

GENERATOR_VERSION = 1
FILES_PER_DIRECTORY = 50
DIRECTORIES = 20


# ---------------------------------------------------------------------------------------------
# repository generation


def _data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def _commit_block(index: int, changes: list[bytes]) -> bytes:
    timestamp = 1_700_000_000 + index * 60
    author = b"Dev %d <dev%d@example.com> %d +0100" % (index % 17, index % 17, timestamp)
    message = b"Change %d\n\nTouches %d file(s).\n" % (index, len(changes))
    parent = b"from :%d\n" % (index - 1) if index > 1 else b""
    return (
        b"commit refs/heads/main\nmark :%d\nauthor %s\ncommitter %s\n" % (index, author, author)
        + _data(message) + parent + b"".join(changes)
    )


def _file_path(directory: int, number: int) -> bytes:
    return b"src/pkg%02d/module_%03d.py" % (directory, number)


def _changes_for(index: int, existing: set[bytes]) -> list[bytes]:
    """A few modifications per commit, with an add every 7th and a delete every 11th commit."""
    changes = []
    for k in range(3):
        path = _file_path((index + k) % DIRECTORIES, (index * 7 + k * 13) % FILES_PER_DIRECTORY)
        existing.add(path)
        changes.append(b"M 100644 inline %s\n" % path + _data(b"# revision %d.%d\n" % (index, k)))
    if index % 7 == 0:
        path = b"extra/added_%05d.txt" % index
        existing.add(path)
        changes.append(b"M 100644 inline %s\n" % path + _data(b"added\n"))
    if index % 11 == 0:
        victim = b"extra/added_%05d.txt" % (index - 4 - (index - 4) % 7)
        if victim in existing:
            existing.discard(victim)
            changes.append(b"D %s\n" % victim)
    return changes


def generate_repository(path: Path, commits: int) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    existing: set[bytes] = set()
    stream = b"".join(_commit_block(i, _changes_for(i, existing)) for i in range(1, commits + 1))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=stream, check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=path, check=True)


def cached_repository(cache_dir: Path, commits: int) -> tuple[Path, bool]:
    path = cache_dir / f"repo-{commits}-v{GENERATOR_VERSION}"
    if (path / ".git").is_dir() and (path / ".git" / "bench-complete").exists():
        return path, False
    if path.exists():
        subprocess.run(["rm", "-rf", str(path)], check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_repository(path, commits)
    (path / ".git" / "bench-complete").touch()
    return path, True


def git_output(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


# ---------------------------------------------------------------------------------------------
# timing


def time_ours(repo: Path, root: str) -> tuple[float, int]:
    started = time.perf_counter()
    result = collect_local_commits(repo, previous=root, repository="acme/bench")
    return time.perf_counter() - started, len(result.commits)


def python_heap_peak(repo: Path, root: str) -> int:
    tracemalloc.start()
    collect_local_commits(repo, previous=root, repository="acme/bench")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def sentry_cli_env(args: argparse.Namespace, properties: Path) -> dict[str, str]:
    env = {**os.environ, "SENTRY_URL": args.url, "SENTRY_PROPERTIES": str(properties)}
    if args.org:
        env["SENTRY_ORG"] = args.org
    if args.auth_token:
        env["SENTRY_AUTH_TOKEN"] = args.auth_token
    return env


def time_sentry_cli(args: argparse.Namespace, repo: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [args.sentry_cli, "releases", "set-commits", args.release, "--local"],
        cwd=repo, env=env, check=True, capture_output=True,
    )
    return time.perf_counter() - started


def max_rss_mib(who: int) -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS
    rss = resource.getrusage(who).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "sentry-release-bench")
    parser.add_argument("--sentry-cli", metavar="PATH", help="also time sentry-cli releases set-commits --local")
    parser.add_argument("--url", help="Sentry (emulator) URL for --sentry-cli, e.g. http://127.0.0.1:8000")
    parser.add_argument("--org", help="organization slug for --sentry-cli")
    parser.add_argument("--auth-token", help="auth token for --sentry-cli")
    parser.add_argument("--release", default="bench@1.0.0", help="release version for --sentry-cli")
    args = parser.parse_args(argv)
    if args.sentry_cli and not args.url:
        parser.error("--sentry-cli needs --url")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    repo, generated = cached_repository(args.cache_dir, args.commits)
    root = git_output(repo, "rev-list", "--max-parents=0", "HEAD").split()[0]
    print(f"repository: {repo} ({args.commits} commits{', generated now' if generated else ', cached'})")
    print(f"previous (root) commit: {root}")

    ours: list[float] = []
    theirs: list[float] = []
    count = 0
    with tempfile.TemporaryDirectory() as scratch:
        properties = Path(scratch) / "sentry.properties"
        properties.write_text("[http]\nkeepalive=true\n")
        env = sentry_cli_env(args, properties) if args.sentry_cli else {}
        for _ in range(args.runs):  # alternate A B A B so drift hits both equally
            seconds, count = time_ours(repo, root)
            ours.append(seconds)
            if args.sentry_cli:
                theirs.append(time_sentry_cli(args, repo, env))

    heap_peak = python_heap_peak(repo, root)
    rows = [
        ("commits collected", f"{count}"),
        ("runs", f"{args.runs}"),
        ("sentry-release median", f"{statistics.median(ours):.3f} s"),
        ("sentry-release min/max", f"{min(ours):.3f} / {max(ours):.3f} s"),
        ("python heap peak", f"{heap_peak / (1024 * 1024):.1f} MiB (tracemalloc)"),
        ("process max RSS", f"{max_rss_mib(resource.RUSAGE_SELF):.1f} MiB"),
        ("git child max RSS", f"{max_rss_mib(resource.RUSAGE_CHILDREN):.1f} MiB"
         + (" (includes generation)" if generated else "")),
    ]
    if theirs:
        rows += [
            ("sentry-cli median", f"{statistics.median(theirs):.3f} s (includes HTTP)"),
            ("sentry-cli min/max", f"{min(theirs):.3f} / {max(theirs):.3f} s"),
        ]
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
