"""A Snuba stand-in that answers every query with zero rows (stdlib only, Python 3.8+).

Sentry asks Snuba (ClickHouse) for event and session statistics when it serializes a release.
With no events, a real Snuba answers with an empty `data` list and a `meta` list naming the
selected columns; this stub gives the same answer. Releases, commits and deploys live in
PostgreSQL and never pass through here.

    python snuba_stub.py PORT
"""

from __future__ import annotations

import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List

# Two-word clauses first, so the BY of ORDER BY is not taken for the grouping clause.
_PHRASE = re.compile(r"(ORDER\s+BY|LIMIT\s+BY|ARRAY\s+JOIN|MATCH|SELECT|BY|WHERE|HAVING|LIMIT"
                     r"|OFFSET|GRANULARITY|TOTALS|SAMPLE)(?=\s|$)")
_ALIAS = re.compile(r"\bAS\s+`?([^`\s]+)`?\s*$", re.IGNORECASE)


def top_level_clauses(query: str) -> Dict[str, str]:
    """Map each top-level SnQL keyword (outside brackets and quotes) to the text after it."""
    found: Dict[str, str] = {}
    depth, quote, keyword, start = 0, "", "", 0
    i = 0
    while i < len(query):
        ch = query[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and (i == 0 or query[i - 1] == " "):
            word = _PHRASE.match(query, i)
            if word:
                if keyword:  # first wins: in `LIMIT n BY x` the BY is not the grouping
                    found.setdefault(keyword, query[start:i].strip())
                keyword, start = " ".join(word.group(0).split()), word.end()
                i = word.end()
                continue
        i += 1
    if keyword:
        found.setdefault(keyword, query[start:].strip())
    return found


def split_columns(text: str) -> List[str]:
    """Split on commas that are not inside brackets or quotes."""
    parts, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def column_name(expression: str) -> str:
    alias = _ALIAS.search(expression)
    return alias.group(1) if alias else expression.strip("`")


def empty_result(body: bytes) -> bytes:
    try:
        query = json.loads(body or b"{}").get("query", "")
    except (ValueError, AttributeError):
        query = ""
    clauses = top_level_clauses(query) if isinstance(query, str) else {}
    names: List[str] = []
    for clause in ("BY", "SELECT"):
        for expression in split_columns(clauses.get(clause, "")):
            name = column_name(expression)
            if name not in names:
                names.append(name)
    meta = [{"name": name, "type": "UInt64"} for name in names]
    answer = {"data": [], "meta": meta, "totals": {}, "timing": {}, "stats": {}}
    return json.dumps(answer).encode()


class EmptySnuba(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(empty_result(self.rfile.read(length)))

    def do_GET(self) -> None:  # noqa: N802
        self._answer(b'{"status": "ok"}')

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 1218
    server = ThreadingHTTPServer(("127.0.0.1", port), EmptySnuba)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
