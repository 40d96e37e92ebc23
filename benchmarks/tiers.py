"""The servers the deploy benchmark runs against: the emulator, or the real Sentry behind a link.

Each tier gives the tools a URL, token, org and project, takes each run's traffic, and reads the
release back to check that the run did the whole work.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Optional, Protocol
from urllib.parse import quote

from benchlib import EMULATOR_TOKEN, TESTS, Emulator, traffic
from linkproxy import CONNECT_RTTS, LinkProxy

sys.path.insert(0, str(TESTS))
from e2e.harness import read_exports, server_root  # noqa: E402  (the end-to-end tier's own readers)



class Tier(Protocol):
    name: str
    slug: str
    link: str
    url: str
    token: str
    org: str
    project: str
    needs_new_commits: bool

    def __enter__(self) -> "Tier": ...
    def __exit__(self, *exc_info: object) -> None: ...
    def before_run(self) -> None: ...
    def traffic(self) -> tuple[int, int, list[str]]: ...
    def link_seconds(self) -> float: ...
    def verify(self, release: str) -> str: ...


def check_release(release: str, data: Optional[dict[str, Any]], commits: int, deploys: int) -> None:
    """Stop the benchmark unless the release is finalized, has commits and exactly one deploy."""
    problems = []
    if data is None:
        problems.append("does not exist")
    else:
        if not data.get("dateReleased"):
            problems.append("is not finalized")
        if commits < 1:
            problems.append("has no commits")
        if deploys != 1:
            problems.append(f"has {deploys} deploys")
    if problems:
        raise SystemExit(f"release {release} {', '.join(problems)}: the run did not do the whole work")


class EmulatorTier:
    name = slug = "emulator"
    needs_new_commits = False

    def __init__(self, latency: float, connect_latency: float, python: str) -> None:
        self.link = (f"emulator latency {latency * 1000:.0f} ms/request + {connect_latency * 1000:.0f} ms/new "
                     "connection, sockets with TCP_NODELAY")
        self.emulator = Emulator(
            "--latency", str(latency), "--connect-latency", str(connect_latency),
            "--repo", "name=acme/shop,provider=integrations:github,url=https://github.com/acme/shop",
            python=python,
        )
        self.url, self.token, self.org, self.project = "", EMULATOR_TOKEN, "acme", "shop"
        self._state: dict[str, Any] = {}
        self._latency, self._connect_latency = latency, connect_latency

    def __enter__(self) -> "EmulatorTier":
        self.emulator.__enter__()
        self.url = self.emulator.url
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.emulator.__exit__(*exc_info)

    def before_run(self) -> None:
        self.emulator.reset()

    def traffic(self) -> tuple[int, int, list[str]]:
        self._state = self.emulator.state()
        return traffic(self._state)

    def link_seconds(self) -> float:
        """The latency the emulator added to the last run."""
        return (self._latency * self._state["request_count"]
                + self._connect_latency * self._state["connection_count"])

    def verify(self, release: str) -> str:
        found = next((r for r in self._state["releases"].get(self.org, []) if r["version"] == release), None)
        commits = len(found["commits"]) + len(found["headCommits"]) if found else 0
        check_release(release, found, commits, len(found["deploys"]) if found else 0)
        assert found is not None
        return str(len(found["commits"])) if found["commits"] else "refs"


class RealSentryTier:
    """The end-to-end tier's Sentry 23.7.1, reached through a LinkProxy; a fresh project per call."""

    name, slug = "real Sentry 23.7.1", "real"
    needs_new_commits = True

    def __init__(self, rtt: float) -> None:
        exports_file = server_root() / "e2e.env"
        exports = {**read_exports(exports_file), **{k: v for k, v in os.environ.items() if k.startswith("SENTRY_E2E_") and v}}
        missing = [name for name in ("SENTRY_E2E_URL", "SENTRY_E2E_TOKEN", "SENTRY_E2E_ORG", "SENTRY_E2E_TEAM")
                   if not exports.get(name)]
        if missing:
            raise SystemExit(f"no real Sentry: {', '.join(missing)} not set and not in {exports_file} "
                             "(start one with scripts/real-sentry/start.sh)")
        self.server = exports["SENTRY_E2E_URL"].rstrip("/")
        self.token, self.org, self.team = exports["SENTRY_E2E_TOKEN"], exports["SENTRY_E2E_ORG"], exports["SENTRY_E2E_TEAM"]
        self.link = (f"TCP proxy in front of {self.server}: {rtt * 1000:.0f} ms RTT, 1 RTT per request, "
                     f"{CONNECT_RTTS} more per new connection")
        host, port = self.server.removeprefix("http://").split(":")
        self.proxy = LinkProxy(host, int(port), rtt=rtt)
        self.url, self.project = "", f"bench-{int(time.time())}"
        self._api: Any = None
        self._held = 0.0

    def __enter__(self) -> "RealSentryTier":
        import httpx

        self._api = httpx.Client(base_url=f"{self.server}/api/0/", timeout=30,
                                 headers={"Authorization": f"Bearer {self.token}"})
        created = self._api.post(f"teams/{self.org}/{self.team}/projects/", json={"name": self.project, "slug": self.project})
        if created.status_code != 201:
            raise SystemExit(f"creating project {self.project}: HTTP {created.status_code} {created.text[:200]}")
        self.proxy.__enter__()
        self.url = self.proxy.url
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.proxy.__exit__(*exc_info)
        self._api.delete(f"projects/{self.org}/{self.project}/")  # scheduled; Sentry purges it later
        self._api.close()

    def before_run(self) -> None:
        self.proxy.take()

    def traffic(self) -> tuple[int, int, list[str]]:
        seen = self.proxy.take()
        self._held = seen.held
        return seen.requests, seen.connections, seen.log()

    def link_seconds(self) -> float:
        """How long the link model held bytes back in the last run (overlaps counted once)."""
        return self._held

    def verify(self, release: str) -> str:
        answer = self._api.get(f"organizations/{self.org}/releases/{quote(release, safe='')}/")
        data = answer.json() if answer.status_code == 200 else None
        commits = int(data.get("commitCount") or 0) if data else 0
        deploys = int(data.get("deployCount") or 0) if data else 0
        check_release(release, data, commits, deploys)
        return str(commits)

