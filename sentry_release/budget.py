"""The time budget of a run: how long it may wait on Sentry, all requests together."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

# With the default 30 s read timeout: two full attempts and a shortened third, so a Sentry that
# never answers ends a run within 90 s.
DEFAULT_BUDGET_SECONDS = 80.0

class TimeBudget:
    """Seconds a run may spend waiting on Sentry, shared by all of its requests.

    Only time inside requests and the waits between attempts counts: git, or the wrapped deploy
    command running between two requests, does not use it up.
    """

    def __init__(self, seconds: float) -> None:
        self.allowed = seconds
        self.spent = 0.0

    @property
    def left(self) -> float:
        return self.allowed - self.spent

    def extend(self, seconds: float) -> None:
        self.allowed += seconds

    @contextmanager
    def counting(self) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.spent += time.monotonic() - began
