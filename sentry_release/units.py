"""The watch settings' values as people write them: durations (`90s`, `10m`, `1h30m`) and percentages.

Their own module because settings are resolved on every run and must not load the watch machinery.
"""

from __future__ import annotations

import re
from typing import Any

MIN_INTERVAL = 1.0

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds in `90s`, `10m`, `1h`, `1m30s` or a bare number of seconds."""
    raw = str(text).strip().lower()
    seconds = 0.0
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        seconds = float(raw)
    elif raw and re.fullmatch(f"(?:{_DURATION.pattern})+", raw):
        units = {"h": 3600.0, "m": 60.0, "s": 1.0}
        seconds = sum(float(number) * units[unit] for number, unit in _DURATION.findall(raw))
    else:
        raise ValueError(f"{what} {text!r} is not a duration; write it like 90s, 10m or 1h")
    if seconds <= 0:
        raise ValueError(f"{what} {text!r} must be longer than zero")
    return seconds


def parse_interval(text: Any) -> float:
    seconds = parse_duration(str(text), "interval")
    if seconds < MIN_INTERVAL:
        raise ValueError(f"interval {text!r} is shorter than 1s")
    return seconds


def parse_percent(raw: Any) -> float:
    try:
        value = float(str(raw).strip().rstrip("%"))
    except ValueError:
        raise ValueError(f"{raw!r} is not a percentage such as 99.5") from None
    if not 0.0 <= value <= 100.0:
        raise ValueError(f"{raw!r} is not between 0 and 100")
    return value
