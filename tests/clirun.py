"""Run the real `sentry-release` console script in a subprocess, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def sentry_release_command() -> list[str]:
    script = shutil.which("sentry-release", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "sentry_release"]


def run_cli(args: Sequence[str], cwd: Path, env: Optional[Mapping[str, str]] = None, timeout: float = 120) -> Run:
    full_env = {k: v for k, v in os.environ.items()}
    full_env.update(env or {})
    result = subprocess.run([*sentry_release_command(), *args], cwd=cwd, env=full_env, capture_output=True,
                            text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return Run(result.returncode, result.stdout, result.stderr)
