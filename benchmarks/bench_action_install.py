"""Benchmark: the Action's "Install sentry-release" step under act, as tests/test_action_act.py
runs it (host mode, offline wheelhouse, the documented workflow against the emulator).

Runs each action copy N times, round-robin (A B A B …) so that drift on a busy machine hits every
copy alike, and prints each run's install and deploy step seconds as act reports them, then the
medians. An action copy is a folder holding action.yml, pyproject.toml, README.md and
sentry_release/ (e.g. `git archive <rev> action.yml pyproject.toml README.md sentry_release`).

    .venv/bin/python benchmarks/bench_action_install.py 5 before=/tmp/before after=/tmp/after

Needs act (scripts/install-runners.sh). Not part of the test suite.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from emulator.server import SentryEmulator  # noqa: E402
from runners.fixtures import make_app_repo  # noqa: E402
from runners.support import HERE, build_wheelhouse, run_act  # noqa: E402

STEP = r"Success - Main {name} \[([\d.]+)(m?s)\]"


def step_seconds(log: str, name: str) -> float:
    match = re.search(STEP.format(name=re.escape(name)), log)
    if match is None:
        raise SystemExit(f"no '{name}' step in act's log:\n{log[-3000:]}")
    return float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)


def main() -> None:
    runs = int(sys.argv[1])
    copies = dict(arg.split("=", 1) for arg in sys.argv[2:])
    work = Path(tempfile.mkdtemp(prefix="bench-action-install-"))
    wheels = build_wheelhouse(work / "wheelhouse", work)
    # Older copies may build with setuptools: offer both backends offline.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(wheels), "setuptools>=64", "flit_core>=3.9,<5"],
                   check=True)
    install: dict[str, list[float]] = {name: [] for name in copies}
    deploy: dict[str, list[float]] = {name: [] for name in copies}
    workflow = (HERE / "github" / "deploy.yml").read_text()
    try:
        with SentryEmulator() as emu:
            for run in range(runs):
                for name, action in copies.items():
                    emu.reset()
                    tmp = work / f"{name}-{run}"
                    tmp.mkdir()
                    app = make_app_repo(tmp / "app", {".github/workflows/deploy.yml": workflow}).path
                    result, seconds = run_act(
                        app, "deploy.yml", tmp, Path(action), secrets={"SENTRY_AUTH_TOKEN": emu.token},
                        variables={"SENTRY_ORG": emu.org.slug, "SENTRY_PROJECT": emu.project.slug,
                                   "SENTRY_URL": emu.url},
                        env={}, wheels=wheels,
                    )
                    if result.returncode != 0:
                        raise SystemExit(f"{name}: act failed\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
                    install[name].append(step_seconds(result.stdout, "Install sentry-release"))
                    deploy[name].append(step_seconds(result.stdout, "sentry-release deploy"))
                    print(f"{name} run {run}: install {install[name][-1]:.2f} s, "
                          f"deploy step {deploy[name][-1]:.2f} s, act {seconds:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name in copies:
        print(f"{name}: install median {statistics.median(install[name]):.2f} s "
              f"(min {min(install[name]):.2f}, max {max(install[name]):.2f}, n={runs}); "
              f"deploy step median {statistics.median(deploy[name]):.2f} s")


if __name__ == "__main__":
    main()
