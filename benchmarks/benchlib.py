"""Shared helpers for the benchmarks: a standalone Sentry emulator, sentry-cli, results files.

Not a test module and not imported by the product.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
RESULTS = Path(__file__).resolve().parent / "results"
CACHE = Path(tempfile.gettempdir()) / "sentry-release-bench"

SENTRY_CLI_VERSION = "3.8.2"
EMULATOR_TOKEN = "sntryu_" + "5e" * 32  # the emulator's default user token (tests/emulator/server.py)

# sentry-cli reads SENTRY_PROPERTIES as a *Java properties* file and maps "a.b=c" to ini section
# [a], key b. An ini-style "[http]\nkeepalive=true" there is silently ignored (checked on the
# wire: 3 requests still took 3 connections), so the dotted form is the one that works.
KEEPALIVE_PROPERTIES = "http.keepalive=true\n"


def bench_env(**extra: str) -> dict[str, str]:
    """The caller's environment without Sentry/CI settings that would change either tool."""
    cleared = ("SENTRY_", "GITHUB_", "GITLAB_", "CI_", "RUNNER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(cleared) and k not in ("CI", "RELEASE")}
    # A pip-installed package has its .pyc files compiled at install time; an editable checkout
    # only gets them if Python may write them, so do not inherit "don't write bytecode".
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["SENTRY_DISABLE_UPDATE_CHECK"] = "1"
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env.update(extra)
    return env


def find_sentry_cli(explicit: str | None = None, install: bool = True) -> str:
    """sentry-cli 3.8.2: the given path, else a bench venv under $TMPDIR (installed from PyPI)."""
    if explicit:
        return explicit
    venv = CACHE / "cli-venv"
    binary = venv / "bin" / "sentry-cli"
    if binary.exists() and SENTRY_CLI_VERSION in _version_of(binary):
        return str(binary)
    if not install:
        raise SystemExit(f"sentry-cli {SENTRY_CLI_VERSION} not found at {binary}")
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (venv / "bin" / "pip").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"sentry-cli=={SENTRY_CLI_VERSION}"], check=True)
    return str(binary)


def _version_of(binary: Path) -> str:
    try:
        return subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout
    except OSError:
        return ""


def sentry_release_command(python: str = sys.executable) -> list[str]:
    script = shutil.which("sentry-release", path=str(Path(python).parent))
    return [script] if script else [python, "-m", "sentry_release"]


class Emulator:
    """tests/emulator as a child process on 127.0.0.1 (through emulator_main.py, which see)."""

    def __init__(self, *args: str, python: str = sys.executable) -> None:
        self.args = [python, str(Path(__file__).resolve().parent / "emulator_main.py"), "--port", "0", *args]
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> Emulator:
        self.process = subprocess.Popen(
            self.args, cwd=TESTS, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=bench_env(),
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.process.kill()
            raise SystemExit(f"emulator did not start: {self.url!r}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read() or b"null")

    def reset(self) -> None:
        """Fresh state (the command-line options are re-applied) and an empty request log."""
        self._call("POST", "/_emulator/reset")

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/_emulator/state")

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """A request to the emulated Sentry API with the default token (counted in the log)."""
        return self._call(method, "/api/0/" + path.lstrip("/"), body, token=EMULATOR_TOKEN)


def traffic(state: dict[str, Any]) -> tuple[int, int, list[str]]:
    """(requests, distinct connections, ["METHOD /path status", …]) from an emulator state dump."""
    log = [f"{r['method']} {r['path']} {r['status']}" for r in state["requests"]]
    return state["request_count"], state["connection_count"], log


def write_result(name: str, markdown: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}.md"
    path.write_text(markdown)
    return path


def run(argv: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(argv)}\n{result.stdout}\n{result.stderr}")
    return result
