"""The one reading of yes/no words, for settings and for the app's `.env` values."""

from __future__ import annotations

TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "on"})
FALSE_WORDS = frozenset({"0", "false", "f", "no", "n", "off"})


def parse_bool(raw: object) -> bool:
    """True/false from a bool or a word (any case, surrounding spaces ignored); else ValueError."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"{raw!r} is not true or false")
