from __future__ import annotations

import os
from pathlib import Path

import pytest

from emulator.fixtures import *  # noqa: F401,F403  (sentry_emulator and friends)
from gitrepo import GitRepo

_CLEARED_PREFIXES = ("SENTRY_", "GITHUB_", "CI_", "RUNNER_")
_CLEARED_NAMES = ("GITLAB_CI", "CI", "GITHUB_ACTIONS", "RELEASE", "ENVIRONMENT", "SENTRY_DSN")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the host's Sentry, GitHub or GitLab settings."""
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES) or name in _CLEARED_NAMES:
            monkeypatch.delenv(name, raising=False)
    # git must not read the developer's global config (signing, hooks, templates)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """An empty real git repository with an author configured."""
    return GitRepo.init(tmp_path / "repo")
