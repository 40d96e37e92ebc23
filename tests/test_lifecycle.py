"""The release lifecycle (issue 11) on real git repositories, through the real CLI, on the emulator.

The scenarios live in tests/lifecycle.py and run unchanged against a real Sentry in
tests/e2e/test_e2e_lifecycle.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import lifecycle
from emulator import SentryEmulator


@pytest.fixture
def sentry(sentry_emulator: SentryEmulator) -> Iterator[lifecycle.Sentry]:
    emu = sentry_emulator

    def make_project(suffix: str) -> str:
        return emu.add_project(emu.org, f"{emu.project.slug}-{suffix}").slug

    def deploys(version: str) -> List[Dict[str, Any]]:
        # every deploy, newest first: the API itself lists only the latest per (project, environment)
        return list(reversed(emu.deploys(emu.org, version)))

    target = lifecycle.Sentry(url=emu.url, token=emu.token, org=emu.org.slug, project=emu.project.slug,
                              base="1", make_project=make_project, deploys=deploys)
    yield target
    target.reader.close()



def test_one_project_two_environments(sentry: lifecycle.Sentry, tmp_path: Path) -> None:
    lifecycle.one_project_two_environments(sentry, tmp_path)


def test_promotion_with_a_project_per_environment(sentry: lifecycle.Sentry, tmp_path: Path) -> None:
    lifecycle.promotion_with_a_project_per_environment(sentry, tmp_path)


def test_failed_wrapped_deploy_then_a_good_one(sentry: lifecycle.Sentry, tmp_path: Path) -> None:
    lifecycle.failed_wrapped_deploy_then_a_good_one(sentry, tmp_path)


def test_rollback_forward_and_rerun(sentry: lifecycle.Sentry, tmp_path: Path) -> None:
    lifecycle.rollback_forward_and_rerun(sentry, tmp_path)


def test_same_day_hotfix(sentry: lifecycle.Sentry, tmp_path: Path) -> None:
    lifecycle.same_day_hotfix(sentry, tmp_path)


def test_depth_one_clone_derives_the_same_name(sentry: lifecycle.Sentry, tmp_path: Path) -> None:
    lifecycle.depth_one_clone_derives_the_same_name(sentry, tmp_path)


def test_unreachable_previous_commit_fails_clearly(sentry: lifecycle.Sentry, tmp_path: Path) -> None:
    lifecycle.unreachable_previous_commit_fails_clearly(sentry, tmp_path)


def test_unreachable_previous_commit_with_ignore_missing(sentry: lifecycle.Sentry, tmp_path: Path) -> None:
    lifecycle.unreachable_previous_commit_with_ignore_missing(sentry, tmp_path)
