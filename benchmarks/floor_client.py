"""The floor of a deploy flow: its requests, stage by stage, from a bare `http.client` script.

No click, httpx, settings, git or retries: Python's start-up, then the requests, so its time is
what the link and the server take for that sequence of stages. The deploy benchmark runs it as
variant F (the stages `sentry-release deploy` sends, docs/ARCHITECTURE.md "Request budget") and
F3 (`--stages 3`: `dateReleased` sent with the commits, the deploy last, which the lifecycle
rules forbid; measured to show what merging stages would buy).

    python benchmarks/floor_client.py URL ORG PROJECT RELEASE ENVIRONMENT HEAD_SHA [--stages 3]

The token comes from SENTRY_AUTH_TOKEN. It exits 1 with the status line on any unexpected answer.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
from datetime import datetime, timezone
from typing import Any, Optional
from urllib.parse import quote, urlsplit


class Link:
    """One keep-alive connection to the server."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send(self, method: str, path: str, body: Optional[dict[str, Any]] = None, expect: int = 200) -> Any:
        payload = json.dumps(body).encode() if body is not None else None
        self.connection.request(method, f"/api/0/{path}", body=payload, headers=self.headers)
        answer = self.connection.getresponse()
        data = answer.read()
        if answer.status != expect:
            raise SystemExit(f"{method} {path}: HTTP {answer.status} {data[:200]!r}")
        return json.loads(data) if data else None


def at_once(*calls: Any) -> list[Any]:
    """The calls side by side, as `sentry_release.together` runs them; written out here because a floor
    must not depend on the package it bounds."""
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except BaseException as exc:  # re-raised on the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(1, len(calls))]
    for thread in threads:
        thread.start()
    run(0)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def main(argv: list[str]) -> int:
    stages = 3 if "--stages" in argv and argv[argv.index("--stages") + 1] == "3" else 4
    url, org, project, release, environment, head = argv[:6]
    token = os.environ["SENTRY_AUTH_TOKEN"]
    links = [Link(url, token) for _ in range(3)]
    version = quote(release, safe="")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    at_once(
        lambda: links[0].send("POST", f"organizations/{org}/releases/",
                              {"version": release, "projects": [project], "ref": head}, expect=201),
        lambda: links[1].send("GET", f"organizations/{org}/repos/"),
        lambda: links[2].send("GET", f"projects/{org}/{project}/releases/?environment={environment}&per_page=100"),
    )
    commits: dict[str, Any] = {"commits": [{"id": head, "repository": "acme/shop", "message": "floor"}]}
    if stages == 3:
        commits["dateReleased"] = now
    links[0].send("PUT", f"organizations/{org}/releases/{version}/", commits)
    links[0].send("POST", f"organizations/{org}/releases/{version}/deploys/",
                  {"environment": environment, "dateFinished": now, "projects": [project]}, expect=201)
    if stages == 4:
        links[0].send("PUT", f"organizations/{org}/releases/{version}/", {"dateReleased": now})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
