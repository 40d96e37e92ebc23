"""Scriptable faults: wrong answers, slow answers and no answers, consumed in order."""
from __future__ import annotations

import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

DEFAULT_BODIES = {
    408: {"detail": "Request Timeout"},
    409: {"detail": "Release commits are currently being processed"},
    429: {"detail": "You are attempting to use this endpoint too frequently. Limit is 40 requests in 1 seconds"},
    502: {"detail": "Bad Gateway"},
    503: {"detail": "Service Unavailable"},
    504: {"detail": "Gateway Timeout"},
}


@dataclass
class Fault:
    """One scripted misbehaviour.

    ``skip`` lets that many matching requests through first (the Nth-request case);
    ``times`` is how often it is then served (``None``: forever). ``process`` runs the
    real handler first, so state changes although the client sees the fault (a lost answer).
    ``hang`` accepts the request and never answers, as a hung load balancer does: the request
    never reaches the handler, and the connection is only closed (FIN) when the faults are
    cleared (the emulator's reset).
    """

    method: str | None = None
    path: re.Pattern[str] | None = None
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = 1
    skip: int = 0
    delay: float = 0.0
    stall: float = 0.0
    drop: bool = False
    reset: bool = False
    hang: bool = False
    process: bool = False
    retry_after: float | None = None
    rate_limit_reset: float | None = None
    served: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or bool(self.path.search(path))

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.served >= self.times

    def answer_body(self) -> Any:
        if self.body is not None:
            return self.body
        if self.status == 500:
            return {"detail": "Internal Error", "errorId": uuid.uuid4().hex}
        return DEFAULT_BODIES.get(self.status or 0, {"detail": f"emulated fault {self.status}"})

    def answer_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = _number(self.retry_after)
        if self.rate_limit_reset is not None:
            headers["X-Sentry-Rate-Limit-Reset"] = _number(self.rate_limit_reset)
            headers.setdefault("X-Sentry-Rate-Limit-Remaining", "0")
            headers.setdefault("X-Sentry-Rate-Limit-Limit", "40")
        return headers

    def describe(self) -> str:
        parts = []
        if self.hang:
            return "fault(hang)"
        for name in ("status", "drop", "reset", "delay", "stall", "retry_after", "rate_limit_reset"):
            value = getattr(self, name)
            if value not in (None, False, 0, 0.0):
                parts.append(f"{name}={value}")
        return "fault(" + ", ".join(parts) + ")"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class FaultPlan:
    """``emu.faults``: add faults, and the server takes the first live match per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        method: str | None = None,
        path: str | re.Pattern[str] | None = None,
        status: int | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int | None = 1,
        delay: float = 0.0,
        drop: bool = False,
        reset: bool = False,
        stall: float = 0.0,
        retry_after: float | None = None,
        rate_limit_reset: float | None = None,
        skip: int = 0,
        process: bool = False,
        hang: bool = False,
    ) -> Fault:
        if hang:  # wait "forever" before handling, then hang up without an answer
            delay, drop, process = math.inf, True, False
        if status is None and (retry_after is not None or rate_limit_reset is not None):
            status = 429
        fault = Fault(
            method=method,
            path=re.compile(path) if isinstance(path, str) else path,
            status=status,
            body=body,
            headers=dict(headers or {}),
            times=times,
            skip=skip,
            delay=delay,
            stall=stall,
            drop=drop,
            reset=reset,
            hang=hang,
            process=process,
            retry_after=retry_after,
            rate_limit_reset=rate_limit_reset,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail_nth(self, n: int, status: int = 500, method: str | None = None, path: str | None = None, **options: Any) -> Fault:
        """Serve ``status`` to the ``n``-th (1-based) matching request from now on."""
        return self.add(method=method, path=path, status=status, skip=n - 1, **options)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.exhausted or not fault.matches(method, path):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.served += 1
                return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
        release_hangs()

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return [fault for fault in self._faults if not fault.exhausted]

    def __len__(self) -> int:
        return len(self.pending)


_hangs_released = threading.Event()


def release_hangs() -> None:
    """End every hang in this process (their connections are then closed unanswered)."""
    global _hangs_released
    released, _hangs_released = _hangs_released, threading.Event()
    released.set()


def sleep(seconds: float) -> None:
    """The server's pause; an infinite one is a hang, which lasts until `release_hangs()`."""
    if math.isinf(seconds):
        _hangs_released.wait()
    elif seconds > 0:
        time.sleep(seconds)
