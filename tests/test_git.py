"""The git runner and the repository object, on real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitrepo import GitRepo
from sentry_release.errors import GitError
from sentry_release.git import Repository, open_repository


def test_a_failed_command_names_itself_and_gits_first_line(tmp_path: Path) -> None:
    with pytest.raises(GitError) as caught:
        Repository(tmp_path).git("rev-parse", "HEAD")
    message = str(caught.value)
    assert message.startswith(f"`git rev-parse HEAD` failed in {tmp_path}: fatal: not a git repository")
    assert "\n" not in message


def test_outside_a_repository_there_is_none(tmp_path: Path) -> None:
    assert open_repository(tmp_path) is None


def test_a_missing_directory_is_not_reported_as_missing_git(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="is not a directory"):
        open_repository(tmp_path / "gone")


def test_history_questions(repo: GitRepo) -> None:
    root = repo.commit("root", {"a": "1"})
    middle = repo.commit("middle", {"a": "2"})
    head = repo.commit("head", {"a": "3"})
    found = open_repository(repo.path / ".")
    assert found is not None and found.root == repo.path
    assert found.resolve("HEAD~1") == middle and found.resolve("no-such-ref") is None
    assert found.resolve("--all") is None
    assert found.parent(head) == middle and found.parent(root) is None
    assert found.is_ancestor(root, head) and not found.is_ancestor(head, root)
    assert found.rev_list(f"{root}..{head}") == [head, middle]
    assert not found.shallow and found.shallow_commits() == frozenset()


def test_head_of_an_empty_repository_is_none(repo: GitRepo) -> None:
    assert Repository(repo.path).head() is None


def test_shallow_clone_facts(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("one", {"a": "1"})
    two = repo.commit("two", {"a": "2"})
    clone = Repository(repo.clone(tmp_path / "clone", depth=1).path)
    assert clone.shallow and clone.shallow_commits() == frozenset({two})
    assert clone.parent(two) is None
    clone.fetch("origin", "--unshallow")
    assert not clone.shallow and clone.parent(two) is not None


def test_a_failed_fetch_says_what_git_said(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("one")
    clone = repo.clone(tmp_path / "clone", depth=1)
    clone.git("remote", "set-url", "origin", f"file://{tmp_path}/missing.git")
    with pytest.raises(GitError, match=r"`git fetch --quiet --unshallow origin` failed in .*: fatal: "):
        Repository(clone.path).fetch("origin", "--unshallow")


def test_a_failed_stream_names_its_subcommand(repo: GitRepo) -> None:
    repo.commit("one")
    stream = Repository(repo.path).stream(["-c", "log.showRoot=true", "log", "no-such-revision", "--"])
    with pytest.raises(GitError, match=r"^`git log` failed: fatal: "):
        list(stream.read(lambda out: iter(out.read().splitlines())))
        stream.close()
