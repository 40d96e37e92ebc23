"""Benchmark: start-up time of `sentry-release --help` against Python baselines.

Runs each command N times, round-robin (A B C D A B C D …) so that drift on a busy machine hits
every command alike, and prints the median wall time in milliseconds:

    python -c pass                  the interpreter alone (with the venv's site-packages)
    python -c "import click"        interpreter + click: the floor for a click CLI
    python -c "import click, httpx"  what an eager httpx import would add to click
    sentry-release --help           the console script

Then it checks with `python -X importtime -m sentry_release --help` that neither httpx nor
httpcore is imported for --help, and lists the slowest imports.

    /work/venv/bin/python benchmarks/bench_startup.py [--runs 30] [--python PATH]

Writes the Markdown table to stdout and to benchmarks/results/startup-<timestamp>.md.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
HEAVY = ("httpx", "httpcore")


def commands(python: str, script: str | None) -> list[tuple[str, list[str]]]:
    cli = [script, "--help"] if script else [python, "-m", "sentry_release", "--help"]
    return [
        ("python -c pass", [python, "-c", "pass"]),
        ('python -c "import click"', [python, "-c", "import click"]),
        ('python -c "import click, httpx"', [python, "-c", "import click, httpx"]),
        ("sentry-release --help", cli),
    ]


def time_once(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def imported_modules(python: str, env: dict[str, str]) -> list[tuple[int, int, str]]:
    """(self µs, cumulative µs, module) for every import of `python -m sentry_release --help`."""
    result = subprocess.run(
        [python, "-X", "importtime", "-m", "sentry_release", "--help"],
        env=env, capture_output=True, text=True, check=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line[len("import time:"):].split("|"))
        rows.append((int(self_us), int(cumulative_us), name))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--python", default=sys.executable, help="interpreter of the venv with sentry-release")
    args = parser.parse_args(argv)

    script = shutil.which("sentry-release", path=str(Path(args.python).parent))
    # no PYTHON* variables: in particular PYTHONDONTWRITEBYTECODE would keep an editable
    # checkout's modules compiling from source on every run (pip precompiles installed wheels)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "PYTHON"))}
    todo = commands(args.python, script)
    for _, command in todo:  # warm the page cache and .pyc files; not counted
        time_once(command, env)
    samples: dict[str, list[float]] = {label: [] for label, _ in todo}
    for _ in range(args.runs):
        for label, command in todo:
            samples[label].append(time_once(command, env) * 1000)

    medians = {label: statistics.median(values) for label, values in samples.items()}
    floor = medians['python -c "import click"']
    heavy = medians['python -c "import click, httpx"']
    ours = medians["sentry-release --help"]

    modules = imported_modules(args.python, env)
    names = {name.strip() for _, _, name in modules}
    leaked = sorted(n for n in names if n.split(".")[0] in HEAVY)
    slowest = sorted(modules, key=lambda row: row[0], reverse=True)[:8]

    stamp = datetime.now(timezone.utc)
    lines = [
        f"## Start-up ({stamp:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{args.runs} round-robin runs each)",
        "",
        "| command | median ms | min ms | max ms |",
        "|---|---:|---:|---:|",
    ]
    for label, values in samples.items():
        lines.append(f"| `{label}` | {medians[label]:.1f} | {min(values):.1f} | {max(values):.1f} |")
    lines += [
        "",
        f"- `sentry-release --help` minus `import click`: {ours - floor:+.1f} ms; "
        f"`import click, httpx` costs {heavy - medians['python -c pass']:.1f} ms over bare Python.",
        f"- check: httpx/httpcore imported by `python -X importtime -m sentry_release --help`: "
        + ("none — OK" if not leaked else "YES — " + ", ".join(leaked)),
        f"- command used for the CLI: `{' '.join(todo[-1][1])}`",
        "- largest self-times in that import trace: "
        + ", ".join(f"{name.strip()} {self_us / 1000:.1f} ms" for self_us, _, name in slowest),
        "",
    ]
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"startup-{stamp:%Y%m%dT%H%M%S}.md").write_text(report)
    return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
