"""Start tests/emulator standalone for the benchmarks (same options as `python -m emulator`).

Two adjustments, made here rather than in the emulator (both reported to the project):

1. Nagle: the emulator writes a response's headers and its body in two send() calls on a
   socket without TCP_NODELAY. On a reused keep-alive connection the body then waits for the
   client's delayed ACK, about 40 ms per request (measured: 42-44 ms per request after the first
   on one httpx connection with no injected latency, 10 ms for the first). That taxes exactly
   the clients that keep connections alive. Accepted sockets get TCP_NODELAY here, unless
   BENCH_EMULATOR_KEEP_NAGLE=1 (to measure the emulator as it is).
2. Timestamps: sentry-cli sends timestamps with
nanoseconds (`2026-11-25T18:59:05.155934812Z`). Sentry's DRF/Django parser accepts up to six
fractional digits and ignores up to six more, but the emulator's pattern stops at six, so
`releases finalize` and `deploys new` got 400 "Datetime has wrong format". If the emulator
still rejects such a value, its pattern is widened the way Django's is before serving.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from emulator import validation  # noqa: E402
from emulator import server  # noqa: E402
from emulator.__main__ import main  # noqa: E402

NANOSECONDS = "2026-11-25T18:59:05.155934812Z"

KEEP_NAGLE = os.environ.get("BENCH_EMULATOR_KEEP_NAGLE") == "1"
PATCHED: list[str] = []

if not KEEP_NAGLE:
    _original_setup = server._Handler.setup

    def _setup_no_delay(self: server._Handler) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _original_setup(self)

    server._Handler.setup = _setup_no_delay  # type: ignore[method-assign]
    PATCHED.append("TCP_NODELAY on accepted sockets")

if validation._ISO_DATETIME.match(NANOSECONDS) is None:
    validation._ISO_DATETIME = re.compile(
        r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6}\d{0,6})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
    )
    PATCHED.append("accepting more than 6 fractional-second digits, as Django does")

if __name__ == "__main__":
    if PATCHED:
        print("emulator_main: " + "; ".join(PATCHED), file=sys.stderr, flush=True)
    sys.exit(main())
