"""The real deploy command that `deploy -- CMD…` wraps: checked before any request, run, timed, signals passed on.

Its output goes to our stderr, never our stdout: stdout carries only our result (the release name or
one JSON object), so `RELEASE=$(sentry-release deploy -q -- ./deploy.sh)` captures exactly the name.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from sentry_release.clock import utc_now
from sentry_release.errors import UsageError

Log = Callable[[str], None]


@dataclass(frozen=True)
class CommandRun:
    exit_code: int          # as a shell reports it: 128 + N when killed by signal N
    started: str            # ISO-8601 UTC
    finished: str


def require_runnable(command: Sequence[str]) -> None:
    """Refuse a command that cannot run before anything is sent to Sentry."""
    program = command[0]
    if os.path.sep in program and os.path.isfile(program) and not os.access(program, os.X_OK):
        raise UsageError(f"deploy command {program!r} is not executable; chmod +x it or run it "
                         "through its interpreter (sh ./deploy.sh)")
    if shutil.which(program) is None:
        raise UsageError(f"deploy command {program!r} not found; put the command after `--` "
                         f"(and name the environment with -e, e.g. `-e {program}`)")


def run_command(command: Sequence[str], extra_env: Mapping[str, str], log: Log) -> CommandRun:
    """Run the command to its end; SIGINT and SIGTERM sent to us are passed on to it, so a
    cancelled CI job does not orphan the deploy."""
    started = utc_now()
    log(f"running: {' '.join(command)} (its output follows on stderr)")
    begin = time.monotonic()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        child = subprocess.Popen(list(command), env={**os.environ, **extra_env}, stdout=sys.stderr.fileno())
    except OSError as exc:
        raise UsageError(f"cannot run {command[0]!r}: {exc.strerror}") from None
    forwarded = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda number, frame: child.send_signal(number)) for sig in forwarded}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    elapsed = time.monotonic() - begin
    if code < 0:
        log(f"command killed by {signal.Signals(-code).name} after {elapsed:.1f} s")
        code = 128 - code
    else:
        log(f"command exited with {code} after {elapsed:.1f} s")
    return CommandRun(code, started, utc_now())
