"""Benchmark: `sentry-release deploy` against the sentry-cli 3.8.2 four-command chain.

Two servers (`--server`), the same link model: 50 ms on every request and 100 ms more on the
first request of each new connection (the TCP + TLS handshakes a real server costs).

- `emulator` (default): both tools talk to a standalone Sentry emulator (tests/emulator) on
  127.0.0.1 that adds the latency itself. The org has a GitHub-integration repository `acme/shop`
  matching the temp repo's remote `git@github.com:acme/shop.git`, so both tools send refs.
- `real`: both tools talk to the real Sentry 23.7.1 of the end-to-end tier (SENTRY_E2E_* exports,
  else /var/tmp/sentry-release-e2e/e2e.env) through linkproxy.py, a TCP proxy on 127.0.0.1 that
  adds the same delays (`--rtt`: 1 RTT per request, 2 more per new connection) and counts
  requests and connections. A fresh project per call; no repository integration, so both tools
  send local history: one new commit is made before every run, so every release gets commits.

    A   sentry-release deploy -e production --release X
    B   sentry-cli releases new X -p shop
        sentry-cli releases set-commits X --auto
        sentry-cli releases finalize X
        sentry-cli deploys new -r X -e production
        with SENTRY_PROPERTIES naming a file with `http.keepalive=true` (as over https)
    B0  the same chain with sentry-cli's default for http:// URLs: keep-alive off
    F   (`--floor`) floor_client.py: A's requests in A's four stages from a bare http.client
        script (Python's start-up, no click/httpx/git): what the link and server alone take
    F3  (`--floor`) the same with `dateReleased` in the commits PUT and the deploy last: three
        stages, which the lifecycle rules forbid; what merging stages would buy at most

Runs go round-robin A B B0 A B B0 … with a fresh release name each time; the request log is
taken per run (the emulator is reset before each run). After every run the release is read back
from the server (not through the link): it must be finalized, hold commits and one deploy, else
the benchmark stops.

    .venv/bin/python benchmarks/bench_deploy_vs_sentry_cli.py [--runs 9]
    .venv/bin/python benchmarks/bench_deploy_vs_sentry_cli.py --server real [--runs 9]

Writes the Markdown tables to stdout and to benchmarks/results/deploy-vs-sentry-cli-<time>.md.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    KEEPALIVE_PROPERTIES,
    bench_env,
    find_sentry_cli,
    run,
    sentry_release_command,
    write_result,
)
from tiers import EmulatorTier, RealSentryTier, Tier  # noqa: E402

REMOTE = "git@github.com:acme/shop.git"
FLOOR = Path(__file__).resolve().parent / "floor_client.py"


def make_repo(path: Path) -> None:
    env = bench_env(GIT_AUTHOR_NAME="Dev", GIT_AUTHOR_EMAIL="dev@example.com",
                    GIT_COMMITTER_NAME="Dev", GIT_COMMITTER_EMAIL="dev@example.com")
    run(["git", "init", "-q", "-b", "main", str(path)], env=env)
    for index, (name, day) in enumerate([("app.py", "10"), ("views.py", "14"), ("app.py", "15"), ("models.py", "16")]):
        (path / name).write_text(f"revision {index}\n")
        run(["git", "add", name], cwd=path, env=env)
        stamp = f"2024-01-{day}T10:00:00+00:00"
        run(["git", "commit", "-q", "-m", f"change {index}"], cwd=path,
            env={**env, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp})
        if index == 0:
            run(["git", "tag", "v1.0.0"], cwd=path, env=env)
    run(["git", "remote", "add", "origin", REMOTE], cwd=path, env=env)


def add_commit(path: Path, index: int) -> None:
    """One more commit, so the next release has something new to associate."""
    env = bench_env(GIT_AUTHOR_NAME="Dev", GIT_AUTHOR_EMAIL="dev@example.com",
                    GIT_COMMITTER_NAME="Dev", GIT_COMMITTER_EMAIL="dev@example.com")
    (path / "run.txt").write_text(f"run {index}\n")
    run(["git", "add", "run.txt"], cwd=path, env=env)
    run(["git", "commit", "-q", "-m", f"run {index}"], cwd=path, env=env)


def chain(cli: str, release: str, project: str) -> list[list[str]]:
    return [
        [cli, "releases", "new", release, "-p", project],
        [cli, "releases", "set-commits", release, "--auto"],
        [cli, "releases", "finalize", release],
        [cli, "deploys", "new", "-r", release, "-e", "production"],
    ]


def timed(commands: list[list[str]], cwd: Path, env: dict[str, str]) -> tuple[float, list[float]]:
    steps = []
    started = time.perf_counter()
    for command in commands:
        step = time.perf_counter()
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        steps.append(time.perf_counter() - step)
        if result.returncode != 0:
            raise SystemExit(f"failed: {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - started, steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("emulator", "real"), default="emulator",
                        help="the emulator (default) or the real Sentry of the end-to-end tier")
    parser.add_argument("--runs", type=int, default=9, help="runs per variant")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request (1 RTT)")
    parser.add_argument("--connect-latency", type=float, default=0.10,
                        help="extra seconds per new connection (emulator; the real tier uses 2 RTT)")
    parser.add_argument("--sentry-cli", metavar="PATH", help="sentry-cli binary (default: install 3.8.2 from PyPI)")
    parser.add_argument("--python", default=sys.executable, help="interpreter of the venv with sentry-release")
    parser.add_argument("--no-keepalive-off", action="store_true", help="skip variant B0")
    parser.add_argument("--floor", action="store_true",
                        help="add variants F and F3: the bare requests of four and of three stages")
    args = parser.parse_args(argv)

    cli = find_sentry_cli(args.sentry_cli)
    ours = sentry_release_command(args.python)
    versions = (run([*ours, "--version"]).stdout.strip(), run([cli, "--version"]).stdout.strip())
    tier: Tier = (RealSentryTier(rtt=args.latency) if args.server == "real"
                  else EmulatorTier(args.latency, args.connect_latency, args.python))
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as scratch, tier:
        repo = Path(scratch) / "shop"
        make_repo(repo)
        properties = Path(scratch) / "sentry.properties"
        properties.write_text(KEEPALIVE_PROPERTIES)
        base = bench_env(SENTRY_URL=tier.url, SENTRY_AUTH_TOKEN=tier.token, SENTRY_ORG=tier.org)
        variants = {
            "A": ("sentry-release deploy", {**base, "SENTRY_PROJECT": tier.project}),
            "B": ("sentry-cli chain, keep-alive on", {**base, "SENTRY_PROPERTIES": str(properties)}),
            "B0": ("sentry-cli chain, keep-alive off (default over http)", base),
        }
        if args.no_keepalive_off:
            del variants["B0"]
        if args.floor:
            variants["F"] = ("floor: A's 6 requests in 4 stages, bare http.client", base)
            variants["F3"] = ("floor with 3 stages (dateReleased with the commits; not allowed)", base)
        load_before = os.getloadavg()[0]
        results = measure(args.runs, variants, tier, repo, ours, cli)
        results.load = (load_before, os.getloadavg()[0])
    print_report(results, variants, tier, versions, args.runs)
    return 0


@dataclass
class Results:
    times: dict[str, list[float]]
    steps: dict[str, list[list[float]]]
    seen: dict[str, set[tuple[int, int, tuple[str, ...]]]]
    commits: dict[str, set[str]]
    link: dict[str, list[float]]
    load: tuple[float, float] = (0.0, 0.0)   # 1-minute load average before and after the runs


def measure(runs: int, variants: dict[str, tuple[str, dict[str, str]]], tier: Tier, repo: Path,
            ours: list[str], cli: str) -> Results:
    results = Results({key: [] for key in variants}, {key: [] for key in variants},
                      {key: set() for key in variants}, {key: set() for key in variants},
                      {key: [] for key in variants})
    stamp = int(time.time())
    serial = itertools.count()

    def commands(key: str, release: str) -> list[list[str]]:
        if key == "A":
            return [[*ours, "deploy", "-e", "production", "--release", release, "-q"]]
        if key.startswith("F"):
            head = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()  # before the clock starts
            return [[sys.executable, str(FLOOR), tier.url, tier.org, tier.project, release, "production", head,
                     "--stages", "3" if key == "F3" else "4"]]
        return chain(cli, release, tier.project)

    def one_run(key: str, env: dict[str, str], release: str, counted: bool) -> None:
        if tier.needs_new_commits:
            add_commit(repo, next(serial))
        tier.before_run()
        seconds, step_times = timed(commands(key, release), repo, env)
        requests, connections, log = tier.traffic()
        commit_count = tier.verify(release)
        if counted:
            results.times[key].append(seconds)
            results.steps[key].append(step_times)
            generic = tuple(line.replace(release, "{v}").replace(f"/{tier.project}/", "/{p}/") for line in log)
            if not any(r == requests and c == connections for r, c, _ in results.seen[key]):
                results.seen[key].add((requests, connections, generic))  # requests side by side vary in order
            results.commits[key].add(commit_count)
            results.link[key].append(tier.link_seconds())

    for key, (_, env) in variants.items():  # warm-up, not counted: page cache, .pyc files
        one_run(key, env, f"bench-{stamp}-{key}-warmup", counted=False)
    for index in range(runs):
        for key, (_, env) in variants.items():
            one_run(key, env, f"bench-{stamp}-{key}-{index}", counted=True)
    return results


def print_report(results: Results, variants: dict[str, tuple[str, dict[str, str]]], tier: Tier,
                 versions: tuple[str, str], runs: int) -> None:
    times, steps, seen = results.times, results.steps, results.seen
    medians = {key: statistics.median(values) for key, values in times.items()}
    now = datetime.now(timezone.utc)
    lines = [
        f"## deploy vs sentry-cli chain on {tier.name} ({now:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {results.load[0]:.1f} before, {results.load[1]:.1f} after)",
        "",
        f"{versions[0]} vs {versions[1]}; {tier.link}; {runs} runs per variant, round-robin "
        f"{' '.join(variants)}; every run read back: finalized, with commits, one deploy.",
        "",
        "| variant | median s | min s | max s | of which link s | requests | new connections | commits |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, (label, _) in variants.items():
        counts = sorted({(r, c) for r, c, _ in seen[key]})
        request_counts = "/".join(str(r) for r, _ in counts)
        connection_counts = "/".join(str(c) for _, c in counts)
        commits = "/".join(sorted(results.commits[key]))
        link = statistics.median(results.link[key])
        lines.append(f"| {key}: {label} | {medians[key]:.3f} | {min(times[key]):.3f} | {max(times[key]):.3f} "
                     f"| {link:.3f} | {request_counts} | {connection_counts} | {commits} |")
    lines += ["", f"- ratio of the medians A / B (keep-alive on): **{medians['A'] / medians['B']:.2f}** (goal ≤ 0.5); "
              f"median of the per-round ratios: {paired_ratio(times['A'], times['B']):.2f}"]
    if "B0" in variants:
        lines.append(f"- ratio of the medians A / B0 (keep-alive off): **{medians['A'] / medians['B0']:.2f}**; "
                     f"median of the per-round ratios: {paired_ratio(times['A'], times['B0']):.2f}")
    link_ratio = statistics.median(results.link["A"]) / statistics.median(results.link["B"])
    lines.append(f"- the link model alone (what a faster machine cannot shrink): A / B = {link_ratio:.2f}")
    for key in (k for k in variants if k.startswith("F")):
        lines.append(f"- {key} / B: **{medians[key] / medians['B']:.2f}**; A / {key}: {medians['A'] / medians[key]:.2f}")
    chains = [key for key in variants if key.startswith("B")]
    lines += ["", f"Median seconds per sentry-cli step ({' / '.join(chains)}):", "",
              "| step | " + " | ".join(chains) + " |", "|---|" + "---:|" * len(chains)]
    names = ["releases new", "releases set-commits --auto", "releases finalize", "deploys new"]
    for position, name in enumerate(names):
        cells = [f"{statistics.median(run_steps[position] for run_steps in steps[key]):.3f}" for key in chains]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines += ["", "Requests seen (one run of each kind; `{v}` = the release, `{p}` = the project):", ""]
    for key in variants:
        for requests, connections, log in sorted(seen[key]):
            lines.append(f"- {key} ({requests} requests, {connections} connections): " + "; ".join(log))
    lines.append("")
    report = "\n".join(lines)
    print(report)
    print(f"written to {write_result(f'deploy-vs-sentry-cli-{tier.slug}', report)}", file=sys.stderr)


def paired_ratio(a: list[float], b: list[float]) -> float:
    """A/B taken round by round (runs i of A and B ran next to each other): robust to drift."""
    return statistics.median(x / y for x, y in zip(a, b))


if __name__ == "__main__":
    sys.exit(main())
