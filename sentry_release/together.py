"""Independent requests at once: each on its own thread and keep-alive connection of the one client.

A second connection costs its handshake but runs alongside, so reads that do not depend on each other
finish in the time of the slowest. The first call runs on the calling thread, so signal handling and
Ctrl-C stay where Python expects them; the others run on daemon threads that never hold the exit.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional, TypeVar, overload

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")


class _Outcome:
    def __init__(self) -> None:
        self.value: object = None
        self.error: Optional[BaseException] = None


@overload
def together(first: Callable[[], A], second: Callable[[], B], *, parallel: bool = True) -> tuple[A, B]: ...
@overload
def together(first: Callable[[], A], second: Callable[[], B], third: Callable[[], C], *,
             parallel: bool = True) -> tuple[A, B, C]: ...
def together(*calls: Callable[[], object], parallel: bool = True) -> tuple[object, ...]:  # type: ignore[misc]
    """Run `calls` at once (in order when not `parallel`); their results in order, or the first error."""
    if not parallel:
        return tuple(call() for call in calls)
    outcomes = [_Outcome() for _ in calls]
    threads = [threading.Thread(target=_run, args=(call, outcome), daemon=True)
               for call, outcome in zip(calls[1:], outcomes[1:])]
    for thread in threads:
        thread.start()
    _run(calls[0], outcomes[0])
    for thread in threads:
        thread.join()
    for outcome in outcomes:
        if outcome.error is not None:
            raise outcome.error
    return tuple(outcome.value for outcome in outcomes)


def _run(call: Callable[[], object], outcome: _Outcome) -> None:
    try:
        outcome.value = call()
    except BaseException as exc:  # handed to the caller's thread, which raises it
        outcome.error = exc
