"""The release lifecycle (issue 11) against a real Sentry 23.7.1: the scenarios of tests/lifecycle.py.

The same scenarios run on the emulator in tests/test_lifecycle.py. Each test gets fresh projects
and tags numbered by the project's serial, so release names (unique per organization) never
collide with another test's. Deploys are read through the API: 23.7.1 lists every deploy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, List

import pytest

import lifecycle

from .harness import Project, SentryApi, SentryServer, create_project, delete_project

pytestmark = pytest.mark.e2e


@pytest.fixture
def sentry(real_sentry: SentryServer, sentry_api: SentryApi, e2e_project: Project) -> Iterator[lifecycle.Sentry]:
    extra: List[Project] = []

    def make_project(suffix: str) -> str:
        project = create_project(sentry_api, real_sentry.org, real_sentry.team)
        extra.append(project)
        return project.slug

    reader = lifecycle.SentryReader(real_sentry.url, real_sentry.token, e2e_project.org)
    target = lifecycle.Sentry(url=real_sentry.url, token=real_sentry.token, org=e2e_project.org,
                              project=e2e_project.slug, base=str(e2e_project.serial),
                              make_project=make_project, deploys=reader.api_deploys)
    yield target
    target.reader.close()
    reader.close()
    for project in extra:
        delete_project(sentry_api, project)


@pytest.mark.parametrize("scenario", lifecycle.SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_scenario(sentry: lifecycle.Sentry, tmp_path: Path, scenario: lifecycle.Scenario) -> None:
    scenario(sentry, tmp_path)
