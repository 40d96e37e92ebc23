"""`sentry-release deploy` against a real Sentry server, read back through its API.

Written to the CLI contract in docs/ARCHITECTURE.md. Each test deploys into its own fresh
project with its own base version, so release names never collide across tests.
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple
from urllib.parse import quote

import pytest

from gitrepo import GitRepo

from .harness import (
    Project,
    SentryApi,
    SentryServer,
    cli_env,
    file_changes,
    rev_list,
    run_cli,
)

pytestmark = pytest.mark.e2e

REMOTE = "git@github.com:acme/shop.git"
SENTRY_REPOSITORY = "acme/shop"
DAY = "2024-01-16"
DEPLOY_ARGS = ["deploy", "-e", "production", "--env-file", ".env", "--json"]


# ---- building the app's repository ---------------------------------------------------------

class Clock:
    """Distinct, increasing commit times on one day, so history order is unambiguous."""

    def __init__(self) -> None:
        self.minute = 0

    def __call__(self) -> str:
        self.minute += 1
        return f"{DAY}T{8 + self.minute // 60:02d}:{self.minute % 60:02d}:00+00:00"


def shop_repo(path: Path, project: Project, clock: Clock) -> GitRepo:
    """Three commits (adds, a change, a delete) and a version tag on HEAD."""
    repo = GitRepo.init(path)
    repo.git("remote", "add", "origin", REMOTE)
    repo.commit("Add the shop app", {"app.py": "print('shop')\n", "README.md": "# shop\n"},
                date=clock())
    repo.commit("Add the cart", {"app.py": "print('shop v2')\n", "shop/cart.py": "CART = []\n"},
                date=clock())
    repo.commit("Move the docs", {"README.md": None, "docs/index.md": "# shop\n"}, date=clock())
    repo.tag(f"v{project.version(0)}")
    (path / ".env").write_text("# app settings\nDEBUG=false\nRELEASE=old\n")
    return repo


def add_second_release(repo: GitRepo, project: Project, clock: Clock) -> None:
    """A rename, a feature branch merged with --no-ff, more commits, a new tag."""
    repo.git("mv", "shop/cart.py", "shop/basket.py")
    when = clock()
    repo.git("commit", "-q", "-m", "Rename cart to basket",
             env={"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when})
    repo.git("checkout", "-q", "-b", "feature/payments")
    repo.commit("Add payments", {"shop/payments.py": "PAY = 1\n"}, date=clock())
    repo.commit("Tune payments", {"shop/payments.py": "PAY = 2\n"}, date=clock())
    repo.git("checkout", "-q", "main")
    repo.commit("Fix the app banner", {"app.py": "print('shop v3')\n"}, date=clock())
    when = clock()
    repo.git("merge", "-q", "--no-ff", "-m", "Merge feature/payments", "feature/payments",
             env={"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when})
    repo.commit("Drop the docs", {"docs/index.md": None}, date=clock())
    repo.tag(f"v{project.version(1)}")


# ---- running the product and reading Sentry back --------------------------------------------

def deploy(repo_dir: Path, server: SentryServer, project: Project, *extra: str,
           token: Optional[str] = None, env: Optional[Dict[str, str]] = None
           ) -> subprocess.CompletedProcess:
    return run_cli([*DEPLOY_ARGS, *extra], cwd=repo_dir,
                   env={**cli_env(server, project, token), **(env or {})})


def deployed(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}\n{result.stdout}"
    return json.loads(result.stdout)


def release_path(project: Project, version: str) -> str:
    return f"organizations/{project.org}/releases/{quote(version, safe='')}/"


def sentry_commits(api: SentryApi, project: Project, version: str) -> List[dict]:
    return api.get_all(release_path(project, version) + "commits/")


def sentry_file_changes(api: SentryApi, project: Project, version: str
                        ) -> Dict[str, Set[Tuple[str, str]]]:
    """{commit message: {(type, filename)}}; Sentry's answer names commits only by message."""
    changes: Dict[str, Set[Tuple[str, str]]] = {}
    for row in api.get_all(release_path(project, version) + "commitfiles/"):
        assert row["repoName"] == SENTRY_REPOSITORY
        changes.setdefault(row["commitMessage"].strip(), set()).add((row["type"], row["filename"]))
    return changes


def git_file_changes(repo_dir: Path, shas: List[str]) -> Dict[str, Set[Tuple[str, str]]]:
    expected = {}
    for sha in shas:
        message = subprocess.run(["git", "log", "-1", "--format=%B", sha], cwd=repo_dir,
                                 check=True, capture_output=True, text=True).stdout.strip()
        changes = file_changes(repo_dir, sha)
        if changes:
            expected[message] = changes
    return expected


def production_deploys(api: SentryApi, project: Project, version: str) -> List[dict]:
    deploys = api.get_all(release_path(project, version) + "deploys/")
    return [d for d in deploys if d["environment"] == "production"]


def assert_release_matches_git(api: SentryApi, project: Project, version: str,
                               repo_dir: Path, expected_shas: List[str]) -> None:
    release = api.get_json(release_path(project, version))
    assert release["dateReleased"], "the release was not finalized"
    assert [p["slug"] for p in release["projects"]] == [project.slug]

    commits = sentry_commits(api, project, version)
    assert sorted(c["id"] for c in commits) == sorted(expected_shas)
    assert len(commits) == len(expected_shas)
    assert {c["repository"]["name"] for c in commits} == {SENTRY_REPOSITORY}

    assert sentry_file_changes(api, project, version) == git_file_changes(repo_dir, expected_shas)
    assert len(production_deploys(api, project, version)) == 1


def output_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


# ---- the happy paths ------------------------------------------------------------------------

def test_deploy_creates_finalizes_associates_and_records(
        tmp_path: Path, real_sentry: SentryServer, sentry_api: SentryApi,
        e2e_project: Project) -> None:
    repo = shop_repo(tmp_path / "shop", e2e_project, Clock())

    out = deployed(deploy(repo.path, real_sentry, e2e_project))

    version = f"v{e2e_project.version(0)}-{DAY.replace('-', '')}"
    assert out["release"] == version
    assert out["environment"] == "production"
    assert out["commits"] == 3
    assert out["dry_run"] is False
    assert out["deploy_created"] is True
    assert out["deploy_id"]
    assert_release_matches_git(sentry_api, e2e_project, version, repo.path, rev_list(repo.path, "HEAD"))
    # newest first, as git lists them
    assert [c["id"] for c in sentry_commits(sentry_api, e2e_project, version)] == \
        rev_list(repo.path, "HEAD")
    assert (repo.path / ".env").read_text() == f"# app settings\nDEBUG=false\nRELEASE={version}\n"


def test_rerun_records_no_second_deploy(
        tmp_path: Path, real_sentry: SentryServer, sentry_api: SentryApi,
        e2e_project: Project) -> None:
    repo = shop_repo(tmp_path / "shop", e2e_project, Clock())
    first = deployed(deploy(repo.path, real_sentry, e2e_project))
    again = deployed(deploy(repo.path, real_sentry, e2e_project))

    assert again["release"] == first["release"]
    assert again["deploy_created"] is False
    assert again["deploy_id"] == first["deploy_id"]
    assert len(production_deploys(sentry_api, e2e_project, first["release"])) == 1
    assert len(sentry_commits(sentry_api, e2e_project, first["release"])) == 3


def test_second_release_holds_exactly_the_new_commits(
        tmp_path: Path, real_sentry: SentryServer, sentry_api: SentryApi,
        e2e_project: Project) -> None:
    clock = Clock()
    repo = shop_repo(tmp_path / "shop", e2e_project, clock)
    first = deployed(deploy(repo.path, real_sentry, e2e_project))
    previous_head = repo.head()
    add_second_release(repo, e2e_project, clock)

    second = deployed(deploy(repo.path, real_sentry, e2e_project))

    expected = rev_list(repo.path, f"{previous_head}..HEAD")
    assert len(expected) == 6  # rename, 2 on the branch, banner fix, merge, drop
    assert second["release"] != first["release"]
    assert second["commits"] == len(expected)
    assert_release_matches_git(sentry_api, e2e_project, second["release"], repo.path, expected)


def fake_ssh(bin_dir: Path, served: Path) -> Path:
    """An `ssh` that runs git's remote command locally, in a folder that holds acme/shop.git.

    The clone's remote stays `git@github.com:acme/shop.git` (so Sentry's repository name comes
    from a real-looking URL, however the tool reads it), and `git fetch --deepen` still works.
    """
    script = bin_dir / "fake-ssh"
    # ssh.variant=simple: git calls `fake-ssh HOST COMMAND`
    script.write_text(f'#!/bin/sh\ncd "{served}" && exec sh -c "$2"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_shallow_clone_deploys_exactly_the_new_commits(
        tmp_path: Path, real_sentry: SentryServer, sentry_api: SentryApi,
        e2e_project: Project) -> None:
    clock = Clock()
    origin = shop_repo(tmp_path / "origin", e2e_project, clock)
    deployed(deploy(origin.path, real_sentry, e2e_project))
    previous_head = origin.head()
    add_second_release(origin, e2e_project, clock)

    served = tmp_path / "served" / "acme"
    served.mkdir(parents=True)
    (served / "shop.git").symlink_to(origin.path)
    ssh = fake_ssh(tmp_path, served.parent)
    clone = origin.clone(tmp_path / "ci-checkout", depth=1)
    clone.git("remote", "set-url", "origin", REMOTE)
    clone.git("config", "core.sshCommand", str(ssh))
    clone.git("config", "ssh.variant", "simple")
    assert clone.git("rev-parse", "--is-shallow-repository") == "true"
    (clone.path / ".env").write_text("RELEASE=old\n")

    out = deployed(deploy(clone.path, real_sentry, e2e_project))

    expected = rev_list(origin.path, f"{previous_head}..HEAD")
    assert out["commits"] == len(expected)
    assert_release_matches_git(sentry_api, e2e_project, out["release"], origin.path, expected)


def test_dry_run_leaves_sentry_and_the_env_file_untouched(
        tmp_path: Path, real_sentry: SentryServer, sentry_api: SentryApi,
        e2e_project: Project) -> None:
    repo = shop_repo(tmp_path / "shop", e2e_project, Clock())
    before = (repo.path / ".env").read_text()

    out = deployed(deploy(repo.path, real_sentry, e2e_project, "--dry-run"))

    assert out["dry_run"] is True
    assert sentry_api.get(release_path(e2e_project, out["release"])).status_code == 404
    releases = sentry_api.get_all(
        f"organizations/{e2e_project.org}/releases/?project={e2e_project.id}")
    assert releases == []
    assert (repo.path / ".env").read_text() == before


# ---- the server's real error answers --------------------------------------------------------

def assert_clean_failure(result: subprocess.CompletedProcess, code: int, *secrets: str) -> str:
    text = output_of(result)
    assert result.returncode == code, f"exit {result.returncode}\n{text}"
    assert "Traceback" not in text
    for secret in secrets:
        assert secret not in text
    return text.lower()


@pytest.fixture
def shop(tmp_path: Path, e2e_project: Project) -> GitRepo:
    return shop_repo(tmp_path / "shop", e2e_project, Clock())


def test_wrong_token_fails_with_a_message_about_the_token(
        shop: GitRepo, real_sentry: SentryServer, e2e_project: Project) -> None:
    wrong = "0123456789abcdef" * 4
    text = assert_clean_failure(deploy(shop.path, real_sentry, e2e_project, token=wrong), 1, wrong)
    assert "token" in text


def test_read_only_token_fails_naming_the_missing_scope(
        shop: GitRepo, real_sentry: SentryServer, e2e_project: Project) -> None:
    result = deploy(shop.path, real_sentry, e2e_project, token=real_sentry.ro_token)
    text = assert_clean_failure(result, 1, real_sentry.ro_token)
    assert "project:releases" in text


def test_unknown_organization_is_named(
        shop: GitRepo, real_sentry: SentryServer, e2e_project: Project) -> None:
    result = deploy(shop.path, real_sentry, e2e_project, env={"SENTRY_ORG": "no-such-org-e2e"})
    text = assert_clean_failure(result, 1, real_sentry.token)
    assert "organization" in text or "no-such-org-e2e" in text


def test_unknown_project_is_named(
        shop: GitRepo, real_sentry: SentryServer, e2e_project: Project) -> None:
    result = deploy(shop.path, real_sentry, e2e_project,
                    env={"SENTRY_PROJECT": "no-such-project-e2e"})
    text = assert_clean_failure(result, 1, real_sentry.token)
    assert "project" in text


def test_unknown_release_is_named(
        shop: GitRepo, real_sentry: SentryServer, e2e_project: Project) -> None:
    result = run_cli(["finalize", "--release", "no-such-release-e2e"], cwd=shop.path,
                     env=cli_env(real_sentry, e2e_project))
    text = assert_clean_failure(result, 1, real_sentry.token)
    assert "release" in text


@pytest.mark.parametrize("name", ["latest", "a/b", ".."])
def test_invalid_release_name_is_a_usage_error(
        name: str, shop: GitRepo, real_sentry: SentryServer, sentry_api: SentryApi,
        e2e_project: Project) -> None:
    assert_clean_failure(deploy(shop.path, real_sentry, e2e_project, "--release", name), 2)
    assert sentry_api.get_all(
        f"organizations/{e2e_project.org}/releases/?project={e2e_project.id}") == []


def test_invalid_environment_is_refused(
        shop: GitRepo, real_sentry: SentryServer, e2e_project: Project) -> None:
    result = run_cli(["deploy", "-e", "bad/env", "--env-file", ".env", "--json"], cwd=shop.path,
                     env=cli_env(real_sentry, e2e_project))
    text = output_of(result)
    assert "Traceback" not in text
    if result.returncode == 2:
        assert "environment" in text.lower()
    else:  # passed to the server, which answers 400 with its own message
        assert result.returncode == 1, text
        assert "invalid value for environment" in text.lower()
    assert (shop.path / ".env").read_text().endswith("RELEASE=old\n")
