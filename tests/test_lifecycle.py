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


@pytest.mark.parametrize("scenario", lifecycle.SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_scenario(sentry: lifecycle.Sentry, tmp_path: Path, scenario: lifecycle.Scenario) -> None:
    scenario(sentry, tmp_path)
