"""Release-lifecycle scenarios (issue 11), shared by the emulator and the real-Sentry tiers.

Each scenario builds a real git history, drives the real `sentry-release deploy` command as a user
would, and checks what Sentry then holds, read back through its API: release names, each
release's commit ids against `git rev-list`, the deploys per environment, and `dateReleased`.
tests/test_lifecycle.py runs them on the emulator, tests/e2e/test_e2e_lifecycle.py on a real
Sentry 23.7.1. A `Sentry` says where the command points and how to read state back.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import httpx

from clirun import Run, run_cli
from gitrepo import GitRepo

Deploys = Callable[[str], List[Dict[str, Any]]]


class SentryReader:
    """Reads releases and their commits back through the API."""

    def __init__(self, url: str, token: str, org: str) -> None:
        self.org = org
        self.client = httpx.Client(base_url=f"{url}/api/0/", headers={"Authorization": f"Bearer {token}"},
                                   timeout=30)

    def close(self) -> None:
        self.client.close()

    def release(self, version: str) -> Optional[Dict[str, Any]]:
        response = self.client.get(f"organizations/{self.org}/releases/{_quote(version)}/")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def commit_ids(self, version: str) -> List[str]:
        return [commit["id"] for commit in self.get_all(f"organizations/{self.org}/releases/{_quote(version)}/commits/")]

    def api_deploys(self, version: str) -> List[Dict[str, Any]]:
        return self.get_all(f"organizations/{self.org}/releases/{_quote(version)}/deploys/")

    def get_all(self, path: str) -> List[Dict[str, Any]]:
        items: List[Dict[str, Any]] = []
        url: Optional[str] = path
        while url:
            response = self.client.get(url)
            if response.status_code == 404:
                return items
            response.raise_for_status()
            items.extend(response.json())
            following = response.links.get("next") or {}
            more = 'results="true"' in response.headers.get("Link", "").split(", ")[-1]
            url = following.get("url") if more else None
        return items


def _quote(version: str) -> str:
    from urllib.parse import quote

    return quote(version, safe="")


@dataclass
class Sentry:
    """Where the command points (one org), and how the scenario reads Sentry back."""

    url: str
    token: str
    org: str
    project: str                          # the project single-project scenarios use
    base: str                             # major version for tags: keeps release names unique per org
    make_project: Callable[[str], str]    # a new project with this suffix; returns its slug
    deploys: Deploys                      # every deploy of a release (environment, name, dateFinished, ...)
    reader: SentryReader = field(init=False)

    def __post_init__(self) -> None:
        self.reader = SentryReader(self.url, self.token, self.org)

    def env(self, project: Optional[str] = "default") -> Dict[str, str]:
        values = {"SENTRY_URL": self.url, "SENTRY_AUTH_TOKEN": self.token, "SENTRY_ORG": self.org}
        if project is not None:
            values["SENTRY_PROJECT"] = self.project if project == "default" else project
        return values


# ---- running and reading back ----------------------------------------------------------------------

def deploy(sentry: Sentry, where: GitRepo, environment: str, *args: str,
           project: Optional[str] = "default") -> Run:
    return run_cli(["deploy", "-e", environment, "--json", *args], where.path, env=sentry.env(project),
                   timeout=300)


def succeeded(run: Run) -> Dict[str, Any]:
    assert run.code == 0, run.output
    data: Dict[str, Any] = json.loads(run.stdout)
    return data


def rev_list(repo: GitRepo, *spec: str) -> List[str]:
    out = repo.git("rev-list", *spec)
    return out.split() if out else []


def environments(sentry: Sentry, version: str) -> Counter:
    """How many deploys the release has per environment."""
    return Counter(deploy["environment"] for deploy in sentry.deploys(version))


def newest_deploy_in(sentry: Sentry, environment: str, versions: Sequence[str]) -> Optional[str]:
    """Which of these releases holds the environment's newest deploy (by dateFinished)."""
    latest: Dict[str, str] = {}
    for version in versions:
        for item in sentry.deploys(version):
            if item["environment"] == environment:
                latest[version] = max(latest.get(version, ""), item["dateFinished"])
    return max(latest, key=lambda version: latest[version]) if latest else None


def assert_released(sentry: Sentry, *versions: str) -> None:
    for version in versions:
        release = sentry.reader.release(version)
        assert release is not None, f"release {version} does not exist"
        assert release["dateReleased"], f"release {version} is not marked released"


def assert_not_released(sentry: Sentry, version: str) -> None:
    release = sentry.reader.release(version)
    assert release is None or release["dateReleased"] is None, f"{version} was marked released: {release}"


def assert_commits(sentry: Sentry, version: str, expected: List[str]) -> None:
    stored = sentry.reader.commit_ids(version)
    assert stored == expected, f"{version}: {len(stored)} commits stored, git says {len(expected)}"


def _name_of(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("version") or value.get("name") or value.get("release")
    return value


def assert_counted_from(run: Run, data: Dict[str, Any], previous: str, environment: str) -> None:
    """`--json` names the previous release, and a log line starting with "since" says which and why."""
    assert "previous_release" in data, f"--json has no previous_release: {sorted(data)}"
    assert _name_of(data["previous_release"]) == previous
    lines = [re.sub(r"^sentry-release:\s*", "", line).strip() for line in run.stderr.splitlines()]
    since = [line for line in lines if line.startswith("since")]
    assert any(previous in line and environment in line for line in since), (
        f"no line starting with 'since' names {previous} and {environment}:\n{run.stderr}")


# ---- scenarios --------------------------------------------------------------------------------

def tagged(repo: GitRepo, tag: str, *commits: tuple[str, str]) -> str:
    """Commit (message, ISO date) pairs, tag the last one; return its sha."""
    sha = ""
    for message, date in commits:
        sha = repo.commit(message, {f"{message.replace(' ', '_')}.txt": message + "\n"}, date=date)
    repo.tag(tag)
    return sha


def one_project_two_environments(sentry: Sentry, tmp: Path) -> None:
    """v1 → staging and production, v2 → staging only, v3 → production: v3 holds v1..v3, not v2..v3."""
    b = sentry.base
    repo = GitRepo.init(tmp / "app")
    tagged(repo, f"v{b}.1.0", ("initial", "2024-01-10T08:00:00+00:00"), ("setup", "2024-01-11T08:00:00+00:00"))
    r1 = f"v{b}.1.0-20240111"
    assert succeeded(deploy(sentry, repo, "staging"))["release"] == r1
    assert succeeded(deploy(sentry, repo, "production"))["release"] == r1
    tagged(repo, f"v{b}.2.0", ("feature a", "2024-02-01T08:00:00+00:00"), ("feature b", "2024-02-02T08:00:00+00:00"))
    r2 = f"v{b}.2.0-20240202"
    second = deploy(sentry, repo, "staging")
    assert succeeded(second)["release"] == r2
    tagged(repo, f"v{b}.3.0", ("feature c", "2024-03-01T08:00:00+00:00"), ("feature d", "2024-03-02T08:00:00+00:00"))
    r3 = f"v{b}.3.0-20240302"
    third = deploy(sentry, repo, "production")
    assert succeeded(third)["release"] == r3

    assert_commits(sentry, r1, rev_list(repo, f"v{b}.1.0"))
    assert_commits(sentry, r2, rev_list(repo, f"v{b}.1.0..v{b}.2.0"))
    assert_commits(sentry, r3, rev_list(repo, f"v{b}.1.0..v{b}.3.0"))  # v2 never reached production
    assert environments(sentry, r1) == Counter(staging=1, production=1)
    assert environments(sentry, r2) == Counter(staging=1)
    assert environments(sentry, r3) == Counter(production=1)
    assert_released(sentry, r1, r2, r3)
    assert_counted_from(second, json.loads(second.stdout), r1, "staging")
    assert_counted_from(third, json.loads(third.stdout), r1, "production")


def promotion_with_a_project_per_environment(sentry: Sentry, tmp: Path) -> None:
    """Production on v1.2.0; v1.5.0, already on staging, goes to production: its list widens to v1.2.0..v1.5.0."""
    b = sentry.base
    staging, production = sentry.make_project("staging"), sentry.make_project("production")
    repo = GitRepo.init(tmp / "app")
    pyproject = (f'[tool.sentry-release.environments.staging]\nprojects = ["{staging}"]\n\n'
                 f'[tool.sentry-release.environments.production]\nprojects = ["{production}"]\n')
    repo.commit("initial", {"pyproject.toml": pyproject}, date="2024-01-10T08:00:00+00:00")
    tagged(repo, f"v{b}.2.0", ("release 1.2", "2024-02-03T08:00:00+00:00"))
    r12 = f"v{b}.2.0-20240203"
    for environment in ("staging", "production"):
        assert succeeded(deploy(sentry, repo, environment, project=None))["release"] == r12
    names = {}
    for minor, day in ((3, "10"), (4, "17"), (5, "24")):
        tagged(repo, f"v{b}.{minor}.0", (f"work {minor}", f"2024-02-{int(day) - 1:02d}T08:00:00+00:00"),
               (f"release 1.{minor}", f"2024-02-{day}T08:00:00+00:00"))
        names[minor] = f"v{b}.{minor}.0-202402{day}"
        assert succeeded(deploy(sentry, repo, "staging", project=None))["release"] == names[minor]
    r15 = names[5]
    assert_commits(sentry, r15, rev_list(repo, f"v{b}.4.0..v{b}.5.0"))  # staging's own range

    promoted = deploy(sentry, repo, "production", project=None)
    assert succeeded(promoted)["release"] == r15

    # everything production had not received: v1.3 and v1.4 included, never narrowed
    assert_commits(sentry, r15, rev_list(repo, f"v{b}.2.0..v{b}.5.0"))
    assert_commits(sentry, r12, rev_list(repo, f"v{b}.2.0"))
    assert_commits(sentry, names[3], rev_list(repo, f"v{b}.2.0..v{b}.3.0"))
    assert_commits(sentry, names[4], rev_list(repo, f"v{b}.3.0..v{b}.4.0"))
    assert environments(sentry, r12) == Counter(staging=1, production=1)
    assert environments(sentry, names[3]) == environments(sentry, names[4]) == Counter(staging=1)
    assert environments(sentry, r15) == Counter(staging=1, production=1)
    release = sentry.reader.release(r15) or {}
    assert {project["slug"] for project in release["projects"]} == {staging, production}
    assert_released(sentry, r12, names[3], names[4], r15)
    assert_counted_from(promoted, json.loads(promoted.stdout), r12, "production")


def failed_wrapped_deploy_then_a_good_one(sentry: Sentry, tmp: Path) -> None:
    """`deploy -- false` leaves no released release and no deploy; the next range starts at production's last deploy."""
    b = sentry.base
    repo = GitRepo.init(tmp / "app")
    tagged(repo, f"v{b}.0.0", ("initial", "2024-01-10T08:00:00+00:00"))
    r1 = f"v{b}.0.0-20240110"
    assert succeeded(deploy(sentry, repo, "production"))["release"] == r1
    tagged(repo, f"v{b}.1.0", ("broken feature", "2024-02-01T08:00:00+00:00"))
    r2 = f"v{b}.1.0-20240201"
    failed = deploy(sentry, repo, "production", "--", "false")
    assert failed.code != 0, failed.output
    assert_not_released(sentry, r2)
    assert environments(sentry, r2) == Counter()

    tagged(repo, f"v{b}.2.0", ("fixed feature", "2024-03-01T08:00:00+00:00"))
    r3 = f"v{b}.2.0-20240301"
    good = deploy(sentry, repo, "production")
    assert succeeded(good)["release"] == r3

    assert_commits(sentry, r3, rev_list(repo, f"v{b}.0.0..v{b}.2.0"))  # the failed release's commits too
    assert environments(sentry, r1) == environments(sentry, r3) == Counter(production=1)
    assert environments(sentry, r2) == Counter()
    assert_not_released(sentry, r2)
    assert_released(sentry, r1, r3)
    assert_counted_from(good, json.loads(good.stdout), r1, "production")


def rollback_forward_and_rerun(sentry: Sentry, tmp: Path) -> None:
    """Each real deploy is recorded (the rollback too), the re-run adds none, the rolled-back release leads."""
    b = sentry.base
    repo = GitRepo.init(tmp / "app")
    tagged(repo, f"v{b}.0.0", ("initial", "2024-01-10T08:00:00+00:00"))
    old = f"v{b}.0.0-20240110"
    tagged(repo, f"v{b}.1.0", ("feature", "2024-02-01T08:00:00+00:00"), ("more", "2024-02-02T08:00:00+00:00"))
    new = f"v{b}.1.0-20240202"
    repo.git("checkout", "-q", f"v{b}.0.0")
    assert succeeded(deploy(sentry, repo, "production"))["release"] == old
    repo.git("checkout", "-q", "main")
    assert succeeded(deploy(sentry, repo, "production"))["release"] == new
    old_commits, new_commits = rev_list(repo, f"v{b}.0.0"), rev_list(repo, f"v{b}.0.0..v{b}.1.0")
    assert_commits(sentry, new, new_commits)

    repo.git("checkout", "-q", f"v{b}.0.0")
    rollback = deploy(sentry, repo, "production")
    assert succeeded(rollback)["release"] == old
    assert environments(sentry, old) == Counter(production=2), "the rollback was not recorded"
    assert newest_deploy_in(sentry, "production", [old, new]) == old
    assert_counted_from(rollback, json.loads(rollback.stdout), new, "production")

    repo.git("checkout", "-q", "main")
    forward = deploy(sentry, repo, "production")
    assert succeeded(forward)["release"] == new
    assert environments(sentry, new) == Counter(production=2), "the redeploy after the rollback was not recorded"
    assert_counted_from(forward, json.loads(forward.stdout), old, "production")

    again = deploy(sentry, repo, "production")
    assert succeeded(again)["deploy_created"] is False
    assert environments(sentry, old) == environments(sentry, new) == Counter(production=2)
    assert newest_deploy_in(sentry, "production", [old, new]) == new
    # neither list was narrowed by the back-and-forth
    assert_commits(sentry, old, old_commits)
    assert_commits(sentry, new, new_commits)
    assert_released(sentry, old, new)


def same_day_hotfix(sentry: Sentry, tmp: Path) -> None:
    """A second commit of the day, no new tag: its own name (`….2`), release and deploy."""
    b = sentry.base
    repo = GitRepo.init(tmp / "app")
    tagged(repo, f"v{b}.0.0", ("initial", "2024-01-10T08:00:00+00:00"))
    morning = repo.commit("morning change", {"app.py": "1\n"}, date="2024-01-16T09:00:00+00:00")
    first = f"v{b}.0.0-20240116"
    assert succeeded(deploy(sentry, repo, "production"))["release"] == first
    repo.commit("hotfix", {"app.py": "2\n"}, date="2024-01-16T15:00:00+00:00")
    hotfix = deploy(sentry, repo, "production")
    second = f"{first}.2"
    assert succeeded(hotfix)["release"] == second

    assert_commits(sentry, first, rev_list(repo, morning))
    assert_commits(sentry, second, rev_list(repo, f"{morning}..HEAD"))
    assert environments(sentry, first) == environments(sentry, second) == Counter(production=1)
    assert_released(sentry, first, second)
    assert_counted_from(hotfix, json.loads(hotfix.stdout), first, "production")


def depth_one_clone_derives_the_same_name(sentry: Sentry, tmp: Path) -> None:
    """The commit deployed to staging from a full clone goes to production from `git clone --depth=1`."""
    b = sentry.base
    origin = GitRepo.init(tmp / "origin")
    tagged(origin, f"v{b}.0.0", ("initial", "2024-01-10T08:00:00+00:00"))
    origin.commit("views", {"views.py": "v\n"}, date="2024-01-14T08:00:00+00:00")
    origin.commit("fix", {"app.py": "1\n"}, date="2024-01-16T08:00:00+00:00")
    name = f"v{b}.0.0-20240116"
    assert succeeded(deploy(sentry, origin, "staging"))["release"] == name
    shallow = origin.clone(tmp / "shallow", depth=1)
    assert shallow.git("rev-parse", "--is-shallow-repository") == "true"
    assert shallow.head() == origin.head()

    assert succeeded(deploy(sentry, shallow, "production"))["release"] == name

    assert [release["version"] for release in sentry.reader.get_all(
        f"organizations/{sentry.org}/releases/?query={b}.0.0")] == [name]
    assert_commits(sentry, name, rev_list(origin, "HEAD"))  # not narrowed to the one commit the clone has
    assert environments(sentry, name) == Counter(staging=1, production=1)
    assert_released(sentry, name)


def object_exists(repo: GitRepo, sha: str) -> bool:
    return subprocess.run(["git", "cat-file", "-e", sha], cwd=repo.path, capture_output=True).returncode == 0


def _history_with_a_rewritten_release(sentry: Sentry, tmp: Path) -> tuple[GitRepo, str, str, str]:
    """Production ran a commit that a force-push removed; returns (repo, its release, the new name, dropped sha)."""
    b = sentry.base
    repo = GitRepo.init(tmp / "app")
    kept = tagged(repo, f"v{b}.0.0", ("initial", "2024-01-10T08:00:00+00:00"))
    assert succeeded(deploy(sentry, repo, "production"))["release"] == f"v{b}.0.0-20240110"
    dropped = tagged(repo, f"v{b}.1.0", ("bad idea", "2024-02-01T08:00:00+00:00"))
    gone = f"v{b}.1.0-20240201"
    assert succeeded(deploy(sentry, repo, "production"))["release"] == gone
    # the force-push: the branch is rewritten and the commit leaves the repository for good
    repo.git("tag", "-d", f"v{b}.1.0")
    repo.git("reset", "-q", "--hard", kept)
    repo.git("reflog", "expire", "--expire=now", "--all")
    repo.git("gc", "-q", "--prune=now")
    assert not object_exists(repo, dropped)
    tagged(repo, f"v{b}.2.0", ("better idea", "2024-02-05T08:00:00+00:00"))
    return repo, gone, f"v{b}.2.0-20240205", dropped


def unreachable_previous_commit_fails_clearly(sentry: Sentry, tmp: Path) -> None:
    """The previous release's commit is gone: a one-line failure, and nothing finalized or deployed."""
    repo, _gone, name, dropped = _history_with_a_rewritten_release(sentry, tmp)
    failed = deploy(sentry, repo, "production")
    assert failed.code == 1, failed.output
    errors = [line for line in failed.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "--ignore-missing" in errors[0], failed.stderr
    assert "Traceback" not in failed.stderr
    assert_not_released(sentry, name)
    assert environments(sentry, name) == Counter()


def unreachable_previous_commit_with_ignore_missing(sentry: Sentry, tmp: Path) -> None:
    """`--ignore-missing` deploys anyway with commits of this history only."""
    repo, _gone, name, dropped = _history_with_a_rewritten_release(sentry, tmp)
    data = succeeded(deploy(sentry, repo, "production", "--ignore-missing"))
    assert data["release"] == name
    stored = sentry.reader.commit_ids(name)
    assert stored and stored[0] == repo.head() and dropped not in stored
    assert set(stored) <= set(rev_list(repo, "HEAD"))
    assert environments(sentry, name) == Counter(production=1)
    assert_released(sentry, name)
