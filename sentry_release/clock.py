"""Times as Sentry takes them: ISO-8601 in UTC."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from sentry_release.errors import UsageError

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso_utc(moment: Optional[datetime] = None) -> str:
    """`moment` (default: now) as Sentry's ISO-8601 in UTC."""
    moment = moment or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).strftime(_FORMAT)


def utc_now() -> str:
    return iso_utc()


def parse_timestamp(text: str, flag: str) -> str:
    """Unix seconds or ISO-8601 (a naive time is UTC), as Sentry's ISO-8601 in UTC."""
    text = text.strip()
    try:
        moment = datetime.fromtimestamp(float(text), tz=timezone.utc)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"{flag} {text!r} is not a time: use unix seconds or ISO-8601 "
                             "(2024-01-16T10:00:00Z)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    return iso_utc(moment)


def parse_iso(text: str) -> Optional[datetime]:
    """A time Sentry sent back, or None when it is missing or unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def human_utc(text: Optional[str]) -> str:
    """'2024-02-03 10:00 UTC' for log lines; the text itself when it cannot be read."""
    moment = parse_iso(text or "")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if moment else (text or "unknown time")
