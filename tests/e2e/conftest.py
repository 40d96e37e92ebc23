"""Fixtures for the end-to-end tier against a real Sentry server.

`real_sentry` (session): the server named by SENTRY_E2E_URL / _TOKEN / _RO_TOKEN / _ORG / _TEAM;
else one that scripts/real-sentry/start.sh left running; else it runs start.sh and stops the
server at the end of the session (set SENTRY_E2E_KEEP=1 to leave it running).
`sentry_api` (session): an API client with the full token, for reading state back.
`e2e_project` (function): a fresh Sentry project, so no test sees another test's releases.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from .harness import (
    Project,
    SentryApi,
    SentryServer,
    create_project,
    delete_project,
    running_server,
    start_server,
    stop_server,
)


@pytest.fixture(scope="session")
def real_sentry() -> Iterator[SentryServer]:
    # Session fixtures are set up before the function-scoped clean_environment fixture,
    # so the SENTRY_E2E_* settings are still visible here.
    given = SentryServer.from_exports(os.environ)
    if given is not None:
        yield given
        return
    left_running = running_server()
    if left_running is not None:
        yield left_running
        return
    try:
        server = start_server()
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield server
    finally:
        if os.environ.get("SENTRY_E2E_KEEP") != "1":
            stop_server()


@pytest.fixture(scope="session")
def sentry_api(real_sentry: SentryServer) -> Iterator[SentryApi]:
    api = SentryApi(real_sentry.url, real_sentry.token)
    yield api
    api.close()


@pytest.fixture
def e2e_project(real_sentry: SentryServer, sentry_api: SentryApi) -> Iterator[Project]:
    project = create_project(sentry_api, real_sentry.org, real_sentry.team)
    yield project
    delete_project(sentry_api, project)
