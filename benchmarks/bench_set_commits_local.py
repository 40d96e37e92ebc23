"""Benchmark: local commit collection over a 10,000-commit range.

Generates (once, cached in a temp folder) a repository of N commits that add, modify and delete
files, then times `collect_local_commits` over the whole range (previous = the root commit) and
prints median wall time and peak memory.

    /work/venv/bin/python benchmarks/bench_set_commits_local.py [--commits 10000] [--runs 5]

Comparing with sentry-cli 3.8.2 (`releases set-commits --local`): `--sentry-cli` (optionally with
a binary path; without one, 3.8.2 is installed from PyPI into a bench venv) starts the Sentry
emulator (tests/emulator) on 127.0.0.1 and, before every sentry-cli run, resets it and seeds a
previous release `bench@0.9.0` whose last commit is the root commit, so `previous-with-commits`
answers `lastCommit.id` = root and sentry-cli walks the whole range:

    /work/venv/bin/python benchmarks/bench_set_commits_local.py --sentry-cli

Runs then alternate (ours, sentry-cli, ours, …). sentry-cli's figure includes its HTTP requests
(repos, releases POST, previous-with-commits, PUT of every commit) and the emulator's handling of
them; "ours" is the git side only (`collect_local_commits` in this process). `--cli` also times
our whole command line the same way as sentry-cli (`set-commits --local` if the CLI has it, else
`deploy --commits local`), HTTP included. Peak memory of a child is its max RSS from wait4 (the
largest single process of its tree). Keep-alive is switched on for sentry-cli through a
SENTRY_PROPERTIES file (`http.keepalive=true`), as it is over https in real use.

An external server works too (`--url --org --auth-token --release`), if its previous-with-commits
already answers the root commit; nothing is seeded then.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    EMULATOR_TOKEN,
    KEEPALIVE_PROPERTIES,
    Emulator,
    bench_env,
    find_sentry_cli,
    sentry_release_command,
    write_result,
)
from sentry_release.commits import collect_local_commits  # noqa: E402

REMOTE = "git@github.com:acme/bench.git"
PREVIOUS_RELEASE = "bench@0.9.0"

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


def collect_in_child(repo: Path, root: str) -> float:
    """Max RSS of a fresh interpreter that runs only collect_local_commits over the range."""
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from sentry_release.commits import collect_local_commits\n"
        "collect_local_commits(%r, previous=%r, repository='acme/bench')\n"
    ) % (str(Path(__file__).resolve().parent.parent), str(repo), root)
    _, rss, _ = time_child([sys.executable, "-c", code], repo, bench_env())
    return rss


def sentry_env(target: Target, **extra: str) -> dict[str, str]:
    env = bench_env(SENTRY_URL=target.url, SENTRY_PROJECT="shop", **extra)
    if target.org:
        env["SENTRY_ORG"] = target.org
    if target.token:
        env["SENTRY_AUTH_TOKEN"] = target.token
    return env


def our_cli_command(release: str) -> tuple[list[str], str]:
    command = sentry_release_command()
    listing = subprocess.run([*command, "--help"], capture_output=True, text=True).stdout
    if re.search(r"^\s+set-commits\b", listing, re.MULTILINE):
        return [*command, "set-commits", "--release", release, "--local", "-q"], "sentry-release set-commits --local"
    return ([*command, "deploy", "-e", "production", "--release", release, "--commits", "local", "-q"],
            "sentry-release deploy --commits local")


_LOG_TIME = re.compile(r"^\s*\w+\s+(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+)")


def sentry_cli_breakdown(stderr: str) -> tuple[float, float] | None:
    """From a SENTRY_LOG_LEVEL=debug log: (seconds between the previous-with-commits answer and
    the PUT being sent: git walk, diffs and JSON; seconds the PUT took: upload + server)."""
    def moment(line: str) -> float | None:
        found = _LOG_TIME.match(line)
        if not found:
            return None
        day, clock = found.group(1).split(" ")
        hours, minutes, seconds = clock.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)

    lines = stderr.splitlines()
    try:
        ask = next(i for i, line in enumerate(lines) if "> GET" in line and "previous-with-commits" in line)
        answered = next(i for i in range(ask, len(lines)) if "< HTTP/" in lines[i])
        put = next(i for i in range(answered, len(lines)) if "> PUT" in lines[i])
        done = next(i for i in range(put, len(lines)) if "< HTTP/" in lines[i])
    except StopIteration:
        return None
    times = [moment(lines[i]) for i in (answered, put, done)]
    if None in times:
        return None
    return times[1] - times[0], times[2] - times[1]  # type: ignore[operator]


def ensure_remote(repo: Path) -> None:
    """sentry-cli and our CLI name the repository from the remote; the generator adds none."""
    remotes = git_output(repo, "remote").split()
    if "origin" not in remotes:
        subprocess.run(["git", "remote", "add", "origin", REMOTE], cwd=repo, check=True)


def time_child(argv: list[str], repo: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, max RSS MiB of the child's process tree, stderr) of one command; fails loudly."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=repo, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    stderr = process.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(argv)}\n{stderr}")
    rss = usage.ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else usage.ru_maxrss / 1024
    return seconds, rss, stderr


class Target:
    """Where sentry-cli (and --cli) send their requests; seeds the previous release if it can."""

    def __init__(self, args: argparse.Namespace, root: str) -> None:
        self.args = args
        self.root = root
        self.emulator: Emulator | None = None
        self.url, self.org, self.token = args.url, args.org, args.auth_token
        self.counter = 0

    def __enter__(self) -> Target:
        if not self.url:
            self.emulator = Emulator().__enter__()
            self.url, self.org, self.token = self.emulator.url, "acme", EMULATOR_TOKEN
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.emulator is not None:
            self.emulator.__exit__(*exc_info)

    def prepare(self) -> str:
        """A fresh release name; on the emulator, fresh state with the previous release seeded."""
        self.counter += 1
        if self.emulator is None:
            return self.args.release if self.counter == 1 else f"{self.args.release}.{self.counter}"
        self.emulator.reset()
        self.emulator.api("POST", "organizations/acme/releases/", {
            "version": PREVIOUS_RELEASE, "projects": ["shop"],
            "commits": [{"id": self.root, "repository": "acme/bench"}],
        })
        return f"bench@1.0.{self.counter}"

    def check_previous(self, release: str) -> None:
        """The emulator answers previous-with-commits for a new release with the root commit."""
        if self.emulator is None:
            return
        self.emulator.api("POST", "organizations/acme/releases/", {"version": release, "projects": ["shop"]})
        previous = self.emulator.api("GET", f"organizations/acme/releases/{release}/previous-with-commits/")
        found = (previous.get("lastCommit") or {}).get("id")
        if found != self.root:
            raise SystemExit(f"the emulator's previous-with-commits answered {found!r}, not the root {self.root}")

    def committed(self, release: str) -> int | None:
        if self.emulator is None:
            return None
        state = self.emulator.state()
        for item in state["releases"].get("acme", []):
            if item["version"] == release:
                return len(item["commits"])
        return None


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "sentry-release-bench")
    parser.add_argument("--sentry-cli", metavar="PATH", nargs="?", const="",
                        help="also time sentry-cli releases set-commits --local (no PATH: 3.8.2 from PyPI)")
    parser.add_argument("--cli", action="store_true",
                        help="also time our whole CLI (set-commits --local, else deploy --commits local)")
    parser.add_argument("--url", help="an external Sentry instead of the emulator")
    parser.add_argument("--org", help="organization slug (with --url)")
    parser.add_argument("--auth-token", help="auth token (with --url)")
    parser.add_argument("--release", default="bench@1.0.0", help="release version (with --url)")
    return parser.parse_args(argv)


def summary(label: str, seconds: list[float], rss: list[float], note: str = "") -> list[tuple[str, str]]:
    return [
        (f"{label} median", f"{statistics.median(seconds):.3f} s{note}"),
        (f"{label} min/max", f"{min(seconds):.3f} / {max(seconds):.3f} s"),
        (f"{label} max RSS", f"{max(rss):.1f} MiB (wait4, largest process of its tree)"),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    repo, generated = cached_repository(args.cache_dir, args.commits)
    ensure_remote(repo)
    root = git_output(repo, "rev-list", "--max-parents=0", "HEAD").split()[0]
    print(f"repository: {repo} ({args.commits} commits{', generated now' if generated else ', cached'})")
    print(f"previous (root) commit: {root}")
    use_server = args.sentry_cli is not None or args.cli
    sentry_cli = find_sentry_cli(args.sentry_cli or None) if args.sentry_cli is not None else None

    ours: list[float] = []
    theirs: list[float] = []
    theirs_rss: list[float] = []
    cli: list[float] = []
    cli_rss: list[float] = []
    sent: dict[str, int | None] = {}
    cli_label = ""
    count = 0
    with tempfile.TemporaryDirectory() as scratch, (Target(args, root) if use_server else _NoTarget()) as target:
        properties = Path(scratch) / "sentry.properties"
        properties.write_text(KEEPALIVE_PROPERTIES)
        if use_server:
            target.prepare()
            target.check_previous("bench@check")
            cli_env = sentry_env(target, SENTRY_PROPERTIES=str(properties))
            our_env = sentry_env(target)
        for _ in range(args.runs):  # alternate A B A B so drift hits both equally
            seconds, count = time_ours(repo, root)
            ours.append(seconds)
            if sentry_cli:
                release = target.prepare()
                seconds, rss, _ = time_child([sentry_cli, "releases", "set-commits", release, "--local"], repo, cli_env)
                theirs.append(seconds)
                theirs_rss.append(rss)
                sent["sentry-cli"] = target.committed(release)
            if args.cli:
                release = target.prepare()
                command, cli_label = our_cli_command(release)
                seconds, rss, _ = time_child(command, repo, our_env)
                cli.append(seconds)
                cli_rss.append(rss)
                sent["sentry-release"] = target.committed(release)

        breakdown = None
        if sentry_cli:  # one more, untimed run with a debug log, to split sentry-cli's time
            release = target.prepare()
            _, _, log = time_child([sentry_cli, "releases", "set-commits", release, "--local"], repo,
                                   {**cli_env, "SENTRY_LOG_LEVEL": "debug"})
            breakdown = sentry_cli_breakdown(log)

    heap_peak = python_heap_peak(repo, root)
    collect_rss = collect_in_child(repo, root)
    rows = [
        ("commits collected", f"{count}"),
        ("runs", f"{args.runs}"),
        ("sentry-release median", f"{statistics.median(ours):.3f} s (collect_local_commits, git side only)"),
        ("sentry-release min/max", f"{min(ours):.3f} / {max(ours):.3f} s"),
        ("python heap peak", f"{heap_peak / (1024 * 1024):.1f} MiB (tracemalloc)"),
        ("collect max RSS", f"{collect_rss:.1f} MiB (fresh process running collect_local_commits; wait4, "
                            "largest process of its tree: python or its git log)"),
    ]
    if theirs:
        rows += summary("sentry-cli", theirs, theirs_rss, " (whole command, HTTP included)")
        rows.append(("sentry-cli commits stored", f"{sent.get('sentry-cli')}"))
        if breakdown:
            rows.append(("sentry-cli split (debug run)", f"{breakdown[0]:.3f} s git walk + diffs + JSON, "
                                                         f"{breakdown[1]:.3f} s PUT (upload + emulator)"))
    if cli:
        rows += summary(cli_label, cli, cli_rss, " (whole command, HTTP included)")
        rows.append((f"{cli_label} commits stored", f"{sent.get('sentry-release')}"))
    print_table(rows)
    write_result("set-commits-local", "\n".join(f"| {label} | {value} |" for label, value in
                                               [("measure", "value"), ("---", "---"), *rows]) + "\n")
    return 0


class _NoTarget:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


if __name__ == "__main__":
    sys.exit(main())
