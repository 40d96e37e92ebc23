"""Start tests/emulator standalone for the benchmarks (same options as `python -m emulator`).

The emulator itself now sets TCP_NODELAY on accepted sockets and accepts timestamps with more than
six fractional digits (sentry-cli sends nanoseconds), so this launcher only puts tests/ on the path.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from emulator.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
