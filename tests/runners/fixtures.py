"""Fixtures shared by the act and gitlab-ci-local tests (imported by those modules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitrepo import GitRepo
from runners.support import build_wheelhouse, copy_source

APP_REMOTE = "https://github.com/acme/shop.git"
APP_RELEASE = "v1.2.0-20240116.2"  # the default template: latest version tag, HEAD's UTC date, 2nd commit that day


_built: dict[str, Path] = {}


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels of the checkout and its dependencies, built once per session."""
    # Each importing module gets its own copy of this fixture; the build is still shared.
    if "wheelhouse" not in _built:
        work = tmp_path_factory.mktemp("wheels")
        _built["wheelhouse"] = build_wheelhouse(work / "wheelhouse", work)
    return _built["wheelhouse"]


@pytest.fixture(scope="session")
def action_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The action as GitHub delivers it: the repository's files, no .git."""
    if "action" not in _built:
        _built["action"] = copy_source(tmp_path_factory.mktemp("action") / "sentry-release")
    return _built["action"]


def make_app_repo(path: Path, files: dict[str, str], remote: str = APP_REMOTE) -> GitRepo:
    """A small app with two commits, the second tagged v1.2.0 on 2024-01-16, plus `files`
    (CI configuration) committed on top at the same date."""
    repo = GitRepo.init(path)
    repo.commit("Initial commit", {"README.md": "shop\n"}, date="2024-01-15T09:00:00+00:00")
    repo.commit("Add the app", {"app/main.py": "print('shop')\n"}, date="2024-01-16T10:00:00+00:00")
    repo.tag("v1.2.0")
    repo.commit("Add CI configuration", files, date="2024-01-16T11:00:00+00:00")
    repo.git("remote", "add", "origin", remote)
    # What a clone has: origin/main and origin/HEAD (gitlab-ci-local reads the default branch there).
    repo.git("update-ref", "refs/remotes/origin/main", "HEAD")
    repo.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    return repo
