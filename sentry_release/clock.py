"""UTC time, in the one ISO-8601 form Sentry's API and envelopes take."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from sentry_release.errors import UsageError

_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso_utc(moment: Optional[datetime] = None) -> str:
    """`moment` (default: now) as `2024-01-16T10:00:00.000000Z`; a naive moment counts as UTC."""
    moment = moment or utc_now()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime(_ISO)


def parse_timestamp(text: str, flag: str) -> str:
    """Unix seconds or ISO-8601 (no zone: UTC), as `iso_utc`; `flag` names the input in the error."""
    text = text.strip()
    try:
        return iso_utc(datetime.fromtimestamp(float(text), tz=timezone.utc))
    except (ValueError, OverflowError, OSError):
        pass
    try:
        return iso_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a time: use unix seconds or ISO-8601 "
                         "(2024-01-16T10:00:00Z)") from None
