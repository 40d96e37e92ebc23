"""Benchmark: `sentry-release deploy` against the sentry-cli 3.8.2 four-command chain.

Both tools talk to the same standalone Sentry emulator (tests/emulator) on 127.0.0.1 with 50 ms
of latency on every request and 100 ms more on the first request of each new connection (the
TCP + TLS handshake a real server costs). The org has a GitHub-integration repository
`acme/shop` matching the temp repo's remote `git@github.com:acme/shop.git`, so both tools send
refs (`--auto`), not local history.

    A   sentry-release deploy -e production --release X
    B   sentry-cli releases new X -p shop
        sentry-cli releases set-commits X --auto
        sentry-cli releases finalize X
        sentry-cli deploys new -r X -e production
        with SENTRY_PROPERTIES naming a file with `http.keepalive=true` (as over https)
    B0  the same chain with sentry-cli's default for http:// URLs: keep-alive off

Runs go round-robin A B B0 A B B0 … with a fresh release name each time; the emulator is reset
before each run so its request log is that run's traffic alone.

    /work/venv/bin/python benchmarks/bench_deploy_vs_sentry_cli.py [--runs 9]

Writes the Markdown tables to stdout and to benchmarks/results/deploy-vs-sentry-cli-<time>.md.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    EMULATOR_TOKEN,
    KEEPALIVE_PROPERTIES,
    Emulator,
    bench_env,
    find_sentry_cli,
    run,
    sentry_release_command,
    traffic,
    write_result,
)

REMOTE = "git@github.com:acme/shop.git"


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


def chain(cli: str, release: str) -> list[list[str]]:
    return [
        [cli, "releases", "new", release, "-p", "shop"],
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
    parser.add_argument("--runs", type=int, default=9, help="runs per variant")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--connect-latency", type=float, default=0.10, help="extra seconds per new connection")
    parser.add_argument("--sentry-cli", metavar="PATH", help="sentry-cli binary (default: install 3.8.2 from PyPI)")
    parser.add_argument("--python", default=sys.executable, help="interpreter of the venv with sentry-release")
    args = parser.parse_args(argv)

    cli = find_sentry_cli(args.sentry_cli)
    ours = sentry_release_command(args.python)
    cli_version = run([cli, "--version"]).stdout.strip()
    ours_version = run([*ours, "--version"]).stdout.strip()

    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as scratch, Emulator(
        "--latency", str(args.latency), "--connect-latency", str(args.connect_latency),
        "--repo", "name=acme/shop,provider=integrations:github,url=https://github.com/acme/shop",
        python=args.python,
    ) as emulator:
        repo = Path(scratch) / "shop"
        make_repo(repo)
        properties = Path(scratch) / "sentry.properties"
        properties.write_text(KEEPALIVE_PROPERTIES)
        base = bench_env(SENTRY_URL=emulator.url, SENTRY_AUTH_TOKEN=EMULATOR_TOKEN, SENTRY_ORG="acme")
        variants = {
            "A": ("sentry-release deploy", {**base, "SENTRY_PROJECT": "shop"}),
            "B": ("sentry-cli chain, keep-alive on", {**base, "SENTRY_PROPERTIES": str(properties)}),
            "B0": ("sentry-cli chain, keep-alive off (default over http)", base),
        }
        times: dict[str, list[float]] = {key: [] for key in variants}
        steps: dict[str, list[list[float]]] = {key: [] for key in variants}
        seen: dict[str, set[tuple[int, int, tuple[str, ...]]]] = {key: set() for key in variants}
        stamp = int(time.time())
        for key, (_, env) in variants.items():  # warm-up, not counted: page cache, .pyc files
            release = f"bench-{stamp}-{key}-warmup"
            emulator.reset()
            timed([[*ours, "deploy", "-e", "production", "--release", release, "-q"]] if key == "A"
                  else chain(cli, release), repo, env)
        for index in range(args.runs):
            for key, (_, env) in variants.items():
                release = f"bench-{stamp}-{key}-{index}"
                commands = ([[*ours, "deploy", "-e", "production", "--release", release, "-q"]]
                            if key == "A" else chain(cli, release))
                emulator.reset()
                seconds, step_times = timed(commands, repo, env)
                times[key].append(seconds)
                steps[key].append(step_times)
                requests, connections, log = traffic(emulator.state())
                generic = tuple(line.replace(release, "{v}") for line in log)
                seen[key].add((requests, connections, generic))

    medians = {key: statistics.median(values) for key, values in times.items()}
    now = datetime.now(timezone.utc)
    lines = [
        f"## deploy vs sentry-cli chain ({now:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"Python {platform.python_version()})",
        "",
        f"{ours_version} vs {cli_version}; emulator latency {args.latency * 1000:.0f} ms/request "
        f"+ {args.connect_latency * 1000:.0f} ms/new connection; {args.runs} runs per variant, round-robin A B B0; "
        + "emulator sockets with TCP_NODELAY.",
        "",
        "| variant | median s | min s | max s | requests | new connections |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, (label, _) in variants.items():
        counts = sorted({(r, c) for r, c, _ in seen[key]})
        requests = "/".join(str(r) for r, _ in counts)
        connections = "/".join(str(c) for _, c in counts)
        lines.append(f"| {key}: {label} | {medians[key]:.3f} | {min(times[key]):.3f} | {max(times[key]):.3f} "
                     f"| {requests} | {connections} |")
    lines += [
        "",
        f"- ratio A / B (keep-alive on): **{medians['A'] / medians['B']:.2f}** (goal ≤ 0.5)",
        f"- ratio A / B0 (keep-alive off): **{medians['A'] / medians['B0']:.2f}**",
        "",
        "Median seconds per sentry-cli step (B / B0):",
        "",
        "| step | B | B0 |",
        "|---|---:|---:|",
    ]
    names = ["releases new", "releases set-commits --auto", "releases finalize", "deploys new"]
    for position, name in enumerate(names):
        b = statistics.median(run_steps[position] for run_steps in steps["B"])
        b0 = statistics.median(run_steps[position] for run_steps in steps["B0"])
        lines.append(f"| `{name}` | {b:.3f} | {b0:.3f} |")
    lines += ["", "Requests seen by the emulator (one run of each; `{v}` = the release):", ""]
    for key in variants:
        for requests, connections, log in sorted(seen[key]):
            lines.append(f"- {key} ({requests} requests, {connections} connections): " + "; ".join(log))
    lines.append("")
    report = "\n".join(lines)
    print(report)
    print(f"written to {write_result('deploy-vs-sentry-cli', report)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
