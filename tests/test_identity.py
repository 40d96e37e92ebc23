"""Release identity on real repositories: one commit, one name, in every clone; same-day commits apart."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from clirun import run_cli
from gitrepo import GitRepo


def at(hour: int, day: int = 16, minute: int = 0) -> str:
    return f"2024-01-{day:02d}T{hour:02d}:{minute:02d}:00+00:00"


def version(path: Path, *args: str) -> str:
    result = run_cli(["version", *args], path)
    assert result.code == 0, result.stderr
    return result.stdout.strip()


def checkout(repo: GitRepo, sha: str) -> None:
    repo.git("checkout", "-q", "--detach", sha)


@pytest.fixture
def busy_day(repo: GitRepo) -> tuple[GitRepo, list[str]]:
    """v0.9.0 early on 2024-01-16, v1.0.0 at 09:00, then two more commits that day."""
    repo.commit("yesterday", {"a": "0"}, date=at(17, day=15))
    repo.commit("old version, same day", {"a": "1"}, date=at(8))
    repo.tag("v0.9.0")
    shas = [repo.commit("release", {"a": "2"}, date=at(9))]
    repo.tag("v1.0.0")
    shas.append(repo.commit("hotfix", {"a": "3"}, date=at(10)))
    shas.append(repo.commit("second hotfix", {"a": "4"}, date=at(11)))
    return repo, shas


def test_later_commits_of_the_same_day_get_their_own_names(busy_day: tuple[GitRepo, list[str]]) -> None:
    repo, shas = busy_day
    names = []
    for sha in shas:
        checkout(repo, sha)
        names.append(version(repo.path))
    # the commit of v0.9.0 earlier that day does not count: the count starts at the v1.0.0 tag
    assert names == ["v1.0.0-20240116", "v1.0.0-20240116.2", "v1.0.0-20240116.3"]


def test_json_says_where_the_suffix_came_from(busy_day: tuple[GitRepo, list[str]]) -> None:
    repo, shas = busy_day
    checkout(repo, shas[1])
    data = json.loads(run_cli(["version", "--json"], repo.path).stdout)
    assert data["parts"]["date"]["value"] == "20240116.2"
    assert "2nd commit of 2024-01-16 on this line since v1.0.0" in data["parts"]["date"]["source"]


def test_a_new_day_starts_again_without_suffix(busy_day: tuple[GitRepo, list[str]]) -> None:
    repo, _ = busy_day
    repo.commit("next morning", {"a": "5"}, date=at(7, day=17))
    assert version(repo.path) == "v1.0.0-20240117"
    repo.commit("next noon", {"a": "6"}, date=at(12, day=17))
    assert version(repo.path) == "v1.0.0-20240117.2"


def test_a_template_without_date_is_unaffected(busy_day: tuple[GitRepo, list[str]]) -> None:
    repo, shas = busy_day
    assert version(repo.path, "--template", "{version}+{short_sha}") == f"1.0.0+{shas[-1][:7]}"


def test_file_version_counts_from_the_start_of_the_day(repo: GitRepo) -> None:
    repo.commit("yesterday", {"VERSION": "2.0.0"}, date=at(22, day=15))
    repo.commit("morning", {"a": "1"}, date=at(8))
    repo.commit("noon", {"a": "2"}, date=at(12))
    assert version(repo.path) == "v2.0.0-20240116.2"


def test_only_the_first_parent_line_counts_for_a_merge(repo: GitRepo) -> None:
    repo.commit("release", {"a": "1"}, date=at(9))
    repo.tag("v1.0.0")
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit("feature one", {"b": "1"}, date=at(9, minute=30))
    repo.commit("feature two", {"b": "2"}, date=at(9, minute=45))
    repo.git("checkout", "-q", "main")
    repo.merge("feature", "merge feature", date=at(10))
    # all four commits are from that day, but on main's first-parent line the merge is the second
    assert version(repo.path) == "v1.0.0-20240116.2"


def test_depth_1_clone_with_its_remote_derives_the_full_clone_name(busy_day: tuple[GitRepo, list[str]],
                                                                    tmp_path: Path) -> None:
    repo, shas = busy_day
    for sha in shas:
        checkout(repo, sha)
        full = version(repo.path)
        repo.git("branch", "-f", "ci", sha)
        shallow = GitRepo(tmp_path / f"shallow-{sha[:7]}")
        subprocess.run(["git", "clone", "-q", "--depth=1", "--branch", "ci", f"file://{repo.path}",
                        str(shallow.path)], check=True, capture_output=True)
        assert shallow.git("rev-parse", "--is-shallow-repository") == "true"
        assert version(shallow.path) == full


def test_depth_1_clone_of_a_base_version_project_fetches_the_start_of_its_day(repo: GitRepo,
                                                                                tmp_path: Path) -> None:
    repo.commit("morning", {"a": "1"}, date=at(8))
    repo.commit("noon", {"a": "2"}, date=at(12))
    clone = repo.clone(tmp_path / "shallow", depth=1)
    result = run_cli(["version", "--base-version", "3.0.0"], clone.path)
    assert result.stdout == "v3.0.0-20240116.2\n", result.stderr
    assert "first commit of 2024-01-16" in result.stderr


def test_explicit_version_source_needs_no_tags_in_a_shallow_clone(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("yesterday", {"VERSION": "4.1.0"}, date=at(9, day=15))
    repo.tag("v9.9.9")
    repo.commit("today", {"a": "1"}, date=at(9))
    clone = repo.clone(tmp_path / "shallow", depth=2)
    # its parent is from an earlier day, so nothing needs fetching: --no-fetch is fine
    assert version(clone.path, "--version-source", "version", "--no-fetch") == "v4.1.0-20240116"


@pytest.mark.parametrize("break_remote, fragment", [
    (lambda clone: clone.git("remote", "remove", "origin"), "no remote 'origin'"),
    (lambda clone: clone.git("remote", "set-url", "origin", "file:///nonexistent/repo.git"), "failed"),
])
def test_depth_1_clone_that_cannot_fetch_fails_with_the_fix(busy_day: tuple[GitRepo, list[str]], tmp_path: Path,
                                                            break_remote: object, fragment: str) -> None:
    repo, _ = busy_day
    clone = repo.clone(tmp_path / "shallow", depth=1)
    break_remote(clone)  # type: ignore[operator]
    result = run_cli(["version"], clone.path)
    assert (result.code, result.stdout) == (1, "")
    error = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(error) == 1, result.stderr
    assert fragment in error[0] and "fetch-depth: 0" in error[0] and "GIT_DEPTH: 0" in error[0]
    assert "version-source" in error[0]


def test_depth_1_clone_that_cannot_see_its_day_fails_with_the_fix(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("morning", {"a": "1"}, date=at(8))
    repo.commit("noon", {"a": "2"}, date=at(12))
    clone = repo.clone(tmp_path / "shallow", depth=1)
    result = run_cli(["version", "--base-version", "3.0.0", "--no-fetch"], clone.path)
    assert (result.code, result.stdout) == (1, "")
    assert "start of 2024-01-16" in result.stderr and "fetch-depth: 0" in result.stderr
    assert "without {date}" in result.stderr


def test_version_in_one_clone_equals_the_name_in_another(busy_day: tuple[GitRepo, list[str]],
                                                         tmp_path: Path) -> None:
    repo, shas = busy_day
    build = repo.clone(tmp_path / "build-job")
    deploy = repo.clone(tmp_path / "deploy-job", depth=1)
    for clone in (build, deploy):
        checkout(clone, shas[-1])
    assert version(build.path) == version(deploy.path) == "v1.0.0-20240116.3"
    # offline: the fetched clone now has what it needs and derives the same name without its remote
    deploy.git("remote", "remove", "origin")
    assert version(deploy.path) == "v1.0.0-20240116.3"


def test_every_first_parent_commit_of_a_busy_history_gets_a_distinct_name(repo: GitRepo) -> None:
    """A main line with many commits a day, side branches merged the same day, and a tag mid-day."""
    repo.commit("start", {"main": "0"}, date=at(8, day=10))
    repo.tag("v2.0.0")
    minute = 0
    for day in (10, 11, 12):
        for n in range(12):
            minute += 1
            when = at(9 + n // 2, day=day, minute=(n % 2) * 30 + 1)
            if n % 4 == 3:
                branch = f"side-{day}-{n}"
                repo.git("checkout", "-q", "-b", branch)
                repo.commit(f"side work {branch}", {"side": branch}, date=when)
                repo.git("checkout", "-q", "main")
                repo.merge(branch, f"merge {branch}", date=at(9 + n // 2, day=day, minute=(n % 2) * 30 + 2))
            else:
                repo.commit(f"main {day} {n}", {"main": f"{day}-{n}"}, date=when)
            if (day, n) == (11, 6):
                repo.tag("v2.1.0")
    line = repo.git("rev-list", "--first-parent", "HEAD").split()
    names = {}
    for sha in line:
        checkout(repo, sha)
        names[sha] = version(repo.path)
    assert len(set(names.values())) == len(line) == 37
    assert names[line[0]] == "v2.1.0-20240112.12"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand the repository to another user")
def test_repository_owned_by_another_user_reports_git_refusal(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("init", {"VERSION": "1.0.0"})
    subprocess.run(["chown", "-R", "nobody", str(repo.path)], check=True)
    home = tmp_path / "home"
    home.mkdir()
    result = run_cli(["version"], repo.path, env={"HOME": str(home)})
    assert (result.code, result.stdout) == (1, "")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "dubious ownership" in lines[0]
    assert f"git config --global --add safe.directory {repo.path}" in lines[0]
    assert "--base-version" not in lines[0]
