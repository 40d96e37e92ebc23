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
from urllib.parse import quote

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


def rev_list(repo: GitRepo, *spec: str) -> List[str]:
    out = repo.git("rev-list", *spec)
    return out.split() if out else []


def _name_of(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("version") or value.get("name") or value.get("release")
    return value


class Checks:
    """A scenario's expectations. Failures are collected, so one run shows everything that is wrong;
    `verify()` (the scenario's last line) fails with the list."""

    def __init__(self, sentry: Sentry) -> None:
        self.sentry = sentry
        self.failures: List[str] = []

    def that(self, ok: bool, message: str) -> bool:
        if not ok:
            self.failures.append(message)
        return ok

    def verify(self) -> None:
        assert not self.failures, "\n".join(f"- {failure}" for failure in self.failures)

    def succeeded(self, run: Run, release: str) -> Dict[str, Any]:
        """The run's --json result; it must have succeeded and named `release`."""
        if not self.that(run.code == 0, f"deploy of {release} exited {run.code}: {run.stderr.strip()[-600:]}"):
            return {}
        data: Dict[str, Any] = json.loads(run.stdout)
        self.that(data.get("release") == release, f"derived {data.get('release')!r}, expected {release!r}")
        return data

    def commits(self, version: str, expected: List[str], why: str = "") -> None:
        stored = self.sentry.reader.commit_ids(version)
        self.that(stored == expected, f"{version}: {len(stored)} commits stored, git rev-list says {len(expected)}"
                  + (f" ({why})" if why else "") + ("" if set(stored) != set(expected) else " (same set, other order)"))

    def deploys(self, version: str, **per_environment: int) -> None:
        seen = Counter(item["environment"] for item in self.sentry.deploys(version))
        self.that(seen == Counter(per_environment), f"{version}: deploys {dict(seen)}, expected {per_environment}")

    def built_from(self, version: str, sha: str) -> None:
        """The release records the commit it was built from (`ref`)."""
        ref = (self.sentry.reader.release(version) or {}).get("ref")
        self.that(ref == sha, f"{version}: ref {ref!r}, expected the commit it was built from, {sha[:12]}")

    def released(self, *versions: str) -> None:
        for version in versions:
            release = self.sentry.reader.release(version)
            if self.that(release is not None, f"release {version} does not exist"):
                self.that(bool(release and release["dateReleased"]), f"{version} is not marked released")

    def not_released(self, version: str) -> None:
        release = self.sentry.reader.release(version)
        self.that(release is None or release["dateReleased"] is None,
                  f"{version} is marked released ({(release or {}).get('dateReleased')})")

    def newest_deploy(self, environment: str, versions: Sequence[str], expected: str) -> None:
        """Which of these releases holds the environment's newest deploy (by dateFinished)."""
        latest: Dict[str, str] = {}
        for version in versions:
            for item in self.sentry.deploys(version):
                if item["environment"] == environment:
                    latest[version] = max(latest.get(version, ""), item["dateFinished"])
        found = max(latest, key=lambda version: latest[version]) if latest else None
        self.that(found == expected, f"{environment}'s newest deploy is of {found}, expected {expected}")

    def counted_from(self, run: Run, previous: str, environment: str) -> None:
        """`--json` names the previous release, and a log line starting with "since" says which and why."""
        data = json.loads(run.stdout) if run.code == 0 and run.stdout.strip() else {}
        if self.that("previous_release" in data, f"--json has no previous_release (keys: {sorted(data)})"):
            self.that(_name_of(data["previous_release"]) == previous,
                      f"--json previous_release is {data['previous_release']!r}, expected {previous}")
        lines = [re.sub(r"^sentry-release:\s*", "", line).strip() for line in run.stderr.splitlines()]
        since = [line for line in lines if line.startswith("since")]
        self.that(any(previous in line and environment in line for line in since),
                  f"no log line starting with 'since' names {previous} and {environment}")


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
    b, check = sentry.base, Checks(sentry)
    repo = GitRepo.init(tmp / "app")
    tagged(repo, f"v{b}.1.0", ("initial", "2024-01-10T08:00:00+00:00"), ("setup", "2024-01-11T08:00:00+00:00"))
    r1 = f"v{b}.1.0-20240111"
    check.succeeded(deploy(sentry, repo, "staging"), r1)
    check.succeeded(deploy(sentry, repo, "production"), r1)
    tagged(repo, f"v{b}.2.0", ("feature a", "2024-02-01T08:00:00+00:00"), ("feature b", "2024-02-02T08:00:00+00:00"))
    r2 = f"v{b}.2.0-20240202"
    second = deploy(sentry, repo, "staging")
    check.succeeded(second, r2)
    tagged(repo, f"v{b}.3.0", ("feature c", "2024-03-01T08:00:00+00:00"), ("feature d", "2024-03-02T08:00:00+00:00"))
    r3 = f"v{b}.3.0-20240302"
    third = deploy(sentry, repo, "production")
    check.succeeded(third, r3)

    check.commits(r1, rev_list(repo, f"v{b}.1.0"))
    check.commits(r2, rev_list(repo, f"v{b}.1.0..v{b}.2.0"))
    check.commits(r3, rev_list(repo, f"v{b}.1.0..v{b}.3.0"), "v1..v3: v2 never reached production")
    check.deploys(r1, staging=1, production=1)
    check.deploys(r2, staging=1)
    check.deploys(r3, production=1)
    check.released(r1, r2, r3)
    for version, tag in ((r1, "1"), (r2, "2"), (r3, "3")):
        check.built_from(version, repo.git("rev-parse", f"v{b}.{tag}.0^{{commit}}"))
    check.counted_from(second, r1, "staging")
    check.counted_from(third, r1, "production")
    check.verify()


def promotion_with_a_project_per_environment(sentry: Sentry, tmp: Path) -> None:
    """Production on v1.2.0; v1.5.0, already on staging, goes to production: its list widens to v1.2.0..v1.5.0."""
    b, check = sentry.base, Checks(sentry)
    staging, production = sentry.make_project("staging"), sentry.make_project("production")
    repo = GitRepo.init(tmp / "app")
    pyproject = (f'[tool.sentry-release.environments.staging]\nprojects = ["{staging}"]\n\n'
                 f'[tool.sentry-release.environments.production]\nprojects = ["{production}"]\n')
    repo.commit("initial", {"pyproject.toml": pyproject}, date="2024-01-10T08:00:00+00:00")
    tagged(repo, f"v{b}.2.0", ("release 1.2", "2024-02-03T08:00:00+00:00"))
    r12 = f"v{b}.2.0-20240203"
    for environment in ("staging", "production"):
        check.succeeded(deploy(sentry, repo, environment, project=None), r12)
    names = {}
    for minor, day in ((3, 10), (4, 17), (5, 24)):
        tagged(repo, f"v{b}.{minor}.0", (f"work {minor}", f"2024-02-{day - 1:02d}T08:00:00+00:00"),
               (f"release 1.{minor}", f"2024-02-{day}T08:00:00+00:00"))
        names[minor] = f"v{b}.{minor}.0-202402{day}"
        check.succeeded(deploy(sentry, repo, "staging", project=None), names[minor])
    r15 = names[5]
    check.commits(r15, rev_list(repo, f"v{b}.4.0..v{b}.5.0"), "staging's own range, before the promotion")

    promoted = deploy(sentry, repo, "production", project=None)
    check.succeeded(promoted, r15)

    check.commits(r15, rev_list(repo, f"v{b}.2.0..v{b}.5.0"), "widened to all production had not received")
    check.commits(r12, rev_list(repo, f"v{b}.2.0"))
    check.commits(names[3], rev_list(repo, f"v{b}.2.0..v{b}.3.0"))
    check.commits(names[4], rev_list(repo, f"v{b}.3.0..v{b}.4.0"))
    check.deploys(r12, staging=1, production=1)
    check.deploys(names[3], staging=1)
    check.deploys(names[4], staging=1)
    check.deploys(r15, staging=1, production=1)
    projects = {project["slug"] for project in (sentry.reader.release(r15) or {}).get("projects", [])}
    check.that(projects == {staging, production}, f"{r15} belongs to {sorted(projects)}")
    check.released(r12, names[3], names[4], r15)
    check.counted_from(promoted, r12, "production")
    check.verify()


def failed_wrapped_deploy_then_a_good_one(sentry: Sentry, tmp: Path) -> None:
    """`deploy -- false` leaves no released release and no deploy; the next range starts at production's last deploy."""
    b, check = sentry.base, Checks(sentry)
    repo = GitRepo.init(tmp / "app")
    tagged(repo, f"v{b}.0.0", ("initial", "2024-01-10T08:00:00+00:00"))
    r1 = f"v{b}.0.0-20240110"
    check.succeeded(deploy(sentry, repo, "production"), r1)
    tagged(repo, f"v{b}.1.0", ("broken feature", "2024-02-01T08:00:00+00:00"))
    r2 = f"v{b}.1.0-20240201"
    failed = deploy(sentry, repo, "production", "--", "false")
    check.that(failed.code != 0, f"the failed deploy command exited {failed.code}")
    check.not_released(r2)
    check.deploys(r2)

    tagged(repo, f"v{b}.2.0", ("fixed feature", "2024-03-01T08:00:00+00:00"))
    r3 = f"v{b}.2.0-20240301"
    good = deploy(sentry, repo, "production")
    check.succeeded(good, r3)

    check.commits(r3, rev_list(repo, f"v{b}.0.0..v{b}.2.0"), "since production's last deploy, v1.0.0")
    check.deploys(r1, production=1)
    check.deploys(r2)
    check.deploys(r3, production=1)
    check.not_released(r2)
    check.released(r1, r3)
    check.counted_from(good, r1, "production")
    check.verify()


def rollback_forward_and_rerun(sentry: Sentry, tmp: Path) -> None:
    """Each real deploy is recorded (the rollback too), the re-run adds none, the rolled-back release leads."""
    b, check = sentry.base, Checks(sentry)
    repo = GitRepo.init(tmp / "app")
    tagged(repo, f"v{b}.0.0", ("initial", "2024-01-10T08:00:00+00:00"))
    old = f"v{b}.0.0-20240110"
    tagged(repo, f"v{b}.1.0", ("feature", "2024-02-01T08:00:00+00:00"), ("more", "2024-02-02T08:00:00+00:00"))
    new = f"v{b}.1.0-20240202"
    old_commits, new_commits = rev_list(repo, f"v{b}.0.0"), rev_list(repo, f"v{b}.0.0..v{b}.1.0")
    repo.git("checkout", "-q", f"v{b}.0.0")
    check.succeeded(deploy(sentry, repo, "production"), old)
    repo.git("checkout", "-q", "main")
    check.succeeded(deploy(sentry, repo, "production"), new)
    check.commits(new, new_commits)

    repo.git("checkout", "-q", f"v{b}.0.0")
    rollback = deploy(sentry, repo, "production")
    check.succeeded(rollback, old)
    check.deploys(old, production=2)  # the rollback is recorded
    check.newest_deploy("production", [old, new], old)
    check.counted_from(rollback, new, "production")

    repo.git("checkout", "-q", "main")
    forward = deploy(sentry, repo, "production")
    check.succeeded(forward, new)
    check.deploys(new, production=2)  # so is the redeploy after the rollback
    check.counted_from(forward, old, "production")

    again = check.succeeded(deploy(sentry, repo, "production"), new)
    check.that(again.get("deploy_created") is False, f"the re-run says deploy_created={again.get('deploy_created')}")
    check.deploys(old, production=2)
    check.deploys(new, production=2)
    check.newest_deploy("production", [old, new], new)
    check.commits(old, old_commits, "never narrowed by the back-and-forth")
    check.commits(new, new_commits, "never narrowed by the back-and-forth")
    check.released(old, new)
    check.verify()


def same_day_hotfix(sentry: Sentry, tmp: Path) -> None:
    """A second commit of the day, no new tag: its own name (`….2`), release and deploy."""
    b, check = sentry.base, Checks(sentry)
    repo = GitRepo.init(tmp / "app")
    tagged(repo, f"v{b}.0.0", ("initial", "2024-01-10T08:00:00+00:00"))
    morning = repo.commit("morning change", {"app.py": "1\n"}, date="2024-01-16T09:00:00+00:00")
    first = f"v{b}.0.0-20240116"
    check.succeeded(deploy(sentry, repo, "production"), first)
    fix = repo.commit("hotfix", {"app.py": "2\n"}, date="2024-01-16T15:00:00+00:00")
    second = f"{first}.2"
    hotfix = deploy(sentry, repo, "production")
    check.succeeded(hotfix, second)

    check.commits(first, rev_list(repo, morning), "the morning's release keeps its own commits")
    check.commits(second, rev_list(repo, f"{morning}..HEAD"))
    check.deploys(first, production=1)
    check.deploys(second, production=1)
    check.released(first, second)
    check.built_from(first, morning)
    check.built_from(second, fix)
    check.counted_from(hotfix, first, "production")
    check.verify()


def depth_one_clone_derives_the_same_name(sentry: Sentry, tmp: Path) -> None:
    """The commit deployed to staging from a full clone goes to production from `git clone --depth=1`."""
    b, check = sentry.base, Checks(sentry)
    origin = GitRepo.init(tmp / "origin")
    tagged(origin, f"v{b}.0.0", ("initial", "2024-01-10T08:00:00+00:00"))
    origin.commit("views", {"views.py": "v\n"}, date="2024-01-14T08:00:00+00:00")
    origin.commit("fix", {"app.py": "1\n"}, date="2024-01-16T08:00:00+00:00")
    name = f"v{b}.0.0-20240116"
    check.succeeded(deploy(sentry, origin, "staging"), name)
    shallow = origin.clone(tmp / "shallow", depth=1)
    assert shallow.git("rev-parse", "--is-shallow-repository") == "true"
    assert shallow.head() == origin.head()

    check.succeeded(deploy(sentry, shallow, "production"), name)

    listed = [item["version"] for item in sentry.reader.get_all(f"organizations/{sentry.org}/releases/?query={b}.0.0")]
    check.that(listed == [name], f"releases {listed}, expected only {name}")
    check.commits(name, rev_list(origin, "HEAD"), "not narrowed to the one commit the clone has")
    check.deploys(name, staging=1, production=1)
    check.released(name)
    check.verify()


def object_exists(repo: GitRepo, sha: str) -> bool:
    return subprocess.run(["git", "cat-file", "-e", sha], cwd=repo.path, capture_output=True).returncode == 0


def _history_with_a_rewritten_release(sentry: Sentry, tmp: Path, check: Checks) -> tuple[GitRepo, str, str]:
    """Production ran a commit that a force-push removed; returns (repo, the next release's name, dropped sha)."""
    b = sentry.base
    repo = GitRepo.init(tmp / "app")
    kept = tagged(repo, f"v{b}.0.0", ("initial", "2024-01-10T08:00:00+00:00"))
    check.succeeded(deploy(sentry, repo, "production"), f"v{b}.0.0-20240110")
    dropped = tagged(repo, f"v{b}.1.0", ("bad idea", "2024-02-01T08:00:00+00:00"))
    check.succeeded(deploy(sentry, repo, "production"), f"v{b}.1.0-20240201")
    # the force-push: the branch is rewritten and the commit leaves the repository for good
    repo.git("tag", "-d", f"v{b}.1.0")
    repo.git("reset", "-q", "--hard", kept)
    repo.git("reflog", "expire", "--expire=now", "--all")
    repo.git("gc", "-q", "--prune=now")
    assert not object_exists(repo, dropped)
    tagged(repo, f"v{b}.2.0", ("better idea", "2024-02-05T08:00:00+00:00"))
    return repo, f"v{b}.2.0-20240205", dropped


def unreachable_previous_commit_fails_clearly(sentry: Sentry, tmp: Path) -> None:
    """The previous release's commit is gone: a one-line failure, and nothing finalized or deployed."""
    check = Checks(sentry)
    repo, name, _dropped = _history_with_a_rewritten_release(sentry, tmp, check)
    failed = deploy(sentry, repo, "production")
    check.that(failed.code == 1, f"exit {failed.code}, expected 1")
    errors = [line for line in failed.stderr.splitlines() if line.startswith("sentry-release: error")]
    check.that(len(errors) == 1 and "--ignore-missing" in errors[0] and "Traceback" not in failed.stderr,
               f"not one error line naming --ignore-missing: {failed.stderr.strip()[-600:]}")
    check.not_released(name)
    check.deploys(name)
    check.verify()


def unreachable_previous_commit_with_ignore_missing(sentry: Sentry, tmp: Path) -> None:
    """`--ignore-missing` deploys anyway, with commits of this history only."""
    check = Checks(sentry)
    repo, name, dropped = _history_with_a_rewritten_release(sentry, tmp, check)
    check.succeeded(deploy(sentry, repo, "production", "--ignore-missing"), name)
    stored = sentry.reader.commit_ids(name)
    check.that(bool(stored) and stored[0] == repo.head() and dropped not in stored
               and set(stored) <= set(rev_list(repo, "HEAD")),
               f"{name}: commits {stored} are not HEAD and its ancestors")
    check.deploys(name, production=1)
    check.released(name)
    check.verify()


Scenario = Callable[[Sentry, Path], None]
SCENARIOS: List[Scenario] = [
    one_project_two_environments, promotion_with_a_project_per_environment, failed_wrapped_deploy_then_a_good_one,
    rollback_forward_and_rerun, same_day_hotfix, depth_one_clone_derives_the_same_name,
    unreachable_previous_commit_fails_clearly, unreachable_previous_commit_with_ignore_missing,
]
