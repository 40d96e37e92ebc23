"""Harness for the end-to-end tier: a real Sentry server, its API, the CLI, git facts."""

from __future__ import annotations

import itertools
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts" / "real-sentry"
DEFAULT_ROOT = Path("/var/tmp/sentry-release-e2e")
EXPORT_NAMES = ("SENTRY_E2E_URL", "SENTRY_E2E_TOKEN", "SENTRY_E2E_RO_TOKEN",
                "SENTRY_E2E_ORG", "SENTRY_E2E_TEAM")
# A cold start installs ~800 MB and runs all migrations; CI machines can be slow.
START_TIMEOUT = 40 * 60


@dataclass(frozen=True)
class SentryServer:
    url: str
    token: str
    ro_token: str
    org: str
    team: str

    @classmethod
    def from_exports(cls, values: Mapping[str, str]) -> Optional["SentryServer"]:
        """The server named by SENTRY_E2E_* values, or None when any is missing."""
        if not all(values.get(name) for name in EXPORT_NAMES):
            return None
        return cls(url=values["SENTRY_E2E_URL"].rstrip("/"), token=values["SENTRY_E2E_TOKEN"],
                   ro_token=values["SENTRY_E2E_RO_TOKEN"], org=values["SENTRY_E2E_ORG"],
                   team=values["SENTRY_E2E_TEAM"])

    def answers(self) -> bool:
        try:
            response = httpx.get(f"{self.url}/api/0/", headers=_auth(self.token), timeout=5)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.json().get("auth") is not None


def _auth(token: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def server_root() -> Path:
    return Path(os.environ.get("E2E_SENTRY_ROOT") or DEFAULT_ROOT)


def read_exports(path: Path) -> Dict[str, str]:
    """Parse the `export NAME=value` lines start.sh writes."""
    values: Dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            values[name] = value
    return values


def running_server() -> Optional[SentryServer]:
    """A server our start script left running, if it still answers."""
    server = SentryServer.from_exports(read_exports(server_root() / "e2e.env"))
    return server if server is not None and server.answers() else None


def start_server() -> SentryServer:
    """Run start.sh (installs on first use) and return the server it reports."""
    log = server_root() / "logs" / "fixture-start.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        result = subprocess.run(["bash", str(SCRIPTS / "start.sh")], stdout=out,
                                stderr=subprocess.STDOUT, timeout=START_TIMEOUT)
    if result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise RuntimeError(f"start.sh failed (exit {result.returncode}), log {log}:\n{tail}")
    server = SentryServer.from_exports(read_exports(server_root() / "e2e.env"))
    if server is None:
        raise RuntimeError(f"start.sh did not write {server_root() / 'e2e.env'}")
    return server


def stop_server() -> None:
    subprocess.run(["bash", str(SCRIPTS / "stop.sh")], check=False, capture_output=True, timeout=120)


class SentryApi:
    """A small synchronous client for reading state back from the server."""

    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(base_url=f"{url}/api/0/", headers=_auth(token), timeout=30)

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        # The tests drive the server hard for a short while; ride out a throttle if one comes.
        for attempt in range(5):
            response = self.client.request(method, path, **kwargs)
            if response.status_code != 429:
                return response
            time.sleep(float(response.headers.get("Retry-After") or 1 + attempt))
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def get_json(self, path: str) -> Any:
        response = self.get(path)
        response.raise_for_status()
        return response.json()

    def get_all(self, path: str) -> List[Any]:
        """Every item of a paginated list, following `Link: <…>; rel="next"; results="true"`."""
        items: List[Any] = []
        url: Optional[str] = path
        while url:
            response = self.get(url)
            response.raise_for_status()
            items.extend(response.json())
            url = _next_link(response.headers.get("Link", ""))
        return items


def _next_link(header: str) -> Optional[str]:
    for part in header.split(","):
        fields = [field.strip() for field in part.split(";")]
        if 'rel="next"' in fields and 'results="true"' in fields:
            return fields[0].strip("<>")
    return None


_serials = itertools.count()


def unique_serial() -> int:
    """A number no earlier test on the same server used (release versions are org-wide)."""
    return int(time.time() * 1000) % 10**11 * 100 + next(_serials) % 100


@dataclass(frozen=True)
class Project:
    org: str
    slug: str
    id: str
    serial: int

    def version(self, minor: int = 0) -> str:
        """A base version unique to this test; the release name derived from it is too."""
        return f"{self.serial}.{minor}.0"


def create_project(api: SentryApi, org: str, team: str) -> Project:
    serial = unique_serial()
    slug = f"e2e-{serial}"
    response = api.post(f"teams/{org}/{team}/projects/", json={"name": slug, "slug": slug})
    if response.status_code != 201:
        raise RuntimeError(f"creating project {slug}: {response.status_code} {response.text}")
    return Project(org=org, slug=slug, id=str(response.json()["id"]), serial=serial)


def delete_project(api: SentryApi, project: Project) -> None:
    """Schedule the deletion; Sentry hides the project at once and purges it later."""
    api.delete(f"projects/{project.org}/{project.slug}/")


# ---- the product's command line ------------------------------------------------------------

def cli_command() -> List[str]:
    script = Path(sys.executable).with_name("sentry-release")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sentry_release"]


def run_cli(args: Sequence[str], cwd: Path, env: Mapping[str, str],
            timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*cli_command(), *args], cwd=cwd, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout)


def cli_env(server: SentryServer, project: Project, token: Optional[str] = None) -> Dict[str, str]:
    return {
        "SENTRY_URL": server.url,
        "SENTRY_AUTH_TOKEN": server.token if token is None else token,
        "SENTRY_ORG": project.org,
        "SENTRY_PROJECT": project.slug,
    }


# ---- what git says the release must contain -------------------------------------------------

def git(repo_dir: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo_dir, check=True, capture_output=True,
                          text=True).stdout.strip()


def rev_list(repo_dir: Path, *spec: str) -> List[str]:
    out = git(repo_dir, "rev-list", *spec)
    return out.split() if out else []


def file_changes(repo_dir: Path, sha: str) -> Set[Tuple[str, str]]:
    """{(A|M|D, path)} of one commit against its first parent (all added for a root)."""
    parents = git(repo_dir, "rev-list", "--parents", "-n", "1", sha).split()[1:]
    base = [parents[0], sha] if parents else ["--root", sha]
    out = git(repo_dir, "diff-tree", "--no-renames", "-r", "--name-status", *base)
    changes = set()
    for line in out.splitlines():
        if "\t" in line:  # with a single commit, `--root` first prints its id alone
            status, path = line.split("\t", 1)
            changes.add((status, path))
    return changes
