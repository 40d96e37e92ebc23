"""Sentry's OffsetPaginator and its ``Link`` header (RULES.md §7)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence
from urllib.parse import quote, urlencode

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 100


class ParseError(Exception):
    """DRF ``ParseError``: answered as 400 ``{"detail": message}``."""


@dataclass(frozen=True)
class Cursor:
    value: int | float
    offset: int
    is_prev: bool
    has_results: bool | None = None

    def __str__(self) -> str:
        return f"{self.value}:{self.offset}:{int(self.is_prev)}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        bits = text.split(":")
        try:
            if len(bits) != 3:
                raise ValueError(text)
            value = float(bits[0]) if "." in bits[0] else int(bits[0])
            return cls(value, int(bits[1]), bool(int(bits[2])))
        except ValueError as error:
            raise ParseError("Invalid cursor parameter.") from error


def per_page_from(query: Sequence[tuple[str, str]]) -> int:
    raw = last_value(query, "per_page")
    if raw is None:
        return DEFAULT_PER_PAGE
    try:
        per_page = int(raw)
    except ValueError as error:
        raise ParseError("Invalid per_page parameter.") from error
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ParseError(f"Invalid per_page value. Must be between 1 and {MAX_PER_PAGE}.")
    return per_page


def last_value(query: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in query if key == name]
    return values[-1] if values else None


def offset_page(items: Sequence[Any], limit: int, cursor: Cursor | None) -> tuple[list[Any], Cursor, Cursor]:
    """One page the way ``OffsetPaginator.get_result`` cuts it, with its prev/next cursors."""
    cursor = cursor or Cursor(0, 0, False)
    page = cursor.offset
    offset = int(cursor.offset * cursor.value)
    if offset < 0:
        raise ParseError("Pagination offset cannot be negative")
    stop = offset + int(cursor.value or limit) + 1
    results = list(items[offset:stop])
    if cursor.value != limit:
        results = results[-(limit + 1) :]
    next_cursor = Cursor(limit, page + 1, False, len(results) > limit)
    prev_cursor = Cursor(limit, page - 1, True, page > 0)
    return results[:limit], prev_cursor, next_cursor


def link_header(base_url: str, path: str, query: Sequence[tuple[str, str]], prev: Cursor, next_: Cursor) -> str:
    """Both links, always; the URL keeps every query parameter except ``cursor``."""
    querystring = urlencode([(key, value) for key, value in query if key != "cursor"])
    uri = f"{base_url}{quote(path)}?{querystring}"

    def link(cursor: Cursor, name: str) -> str:
        results = "true" if cursor.has_results else "false"
        return f'<{uri}&cursor={cursor}>; rel="{name}"; results="{results}"; cursor="{cursor}"'

    return f'{link(prev, "previous")}, {link(next_, "next")}'


def paginate(
    items: Sequence[Any], query: Sequence[tuple[str, str]], base_url: str, path: str
) -> tuple[list[Any], dict[str, str]]:
    limit = per_page_from(query)
    raw_cursor = last_value(query, "cursor")
    cursor = Cursor.parse(raw_cursor) if raw_cursor else None
    page, prev, next_ = offset_page(items, limit, cursor)
    return page, {"Link": link_header(base_url, path, query, prev, next_)}
