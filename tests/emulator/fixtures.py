"""pytest fixtures for the Sentry emulator.

``sentry_emulator`` gives each test fresh state on one server per session. At teardown it fails
the test if any request broke the published OpenAPI contract, unless the test is marked
``@pytest.mark.contract_violations_ok``, sets ``emu.allow_contract_violations = True``, or has
consumed them with ``emu.take_contract_violations()``.
"""
from __future__ import annotations

from typing import Iterator

import pytest

from .server import SentryEmulator

__all__ = ["pytest_configure", "sentry_emulator", "sentry_emulator_server", "sentry_env"]

CONTRACT_MARKER = "contract_violations_ok"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{CONTRACT_MARKER}: the test sends requests that break the OpenAPI contract on purpose"
    )


@pytest.fixture(scope="session")
def sentry_emulator_server() -> Iterator[SentryEmulator]:
    """The one emulator process-wide; use ``sentry_emulator`` for per-test state."""
    with SentryEmulator() as emulator:
        yield emulator


@pytest.fixture
def sentry_emulator(sentry_emulator_server: SentryEmulator, request: pytest.FixtureRequest) -> Iterator[SentryEmulator]:
    emulator = sentry_emulator_server
    emulator.reset()
    yield emulator
    allowed = emulator.allow_contract_violations or request.node.get_closest_marker(CONTRACT_MARKER)
    violations = emulator.contract_violations if emulator.contract.enabled and not allowed else []
    server_errors = list(emulator.server_errors)
    emulator.reset()
    if server_errors:
        pytest.fail("the emulator crashed (a bug in tests/emulator):\n" + "\n".join(server_errors), pytrace=False)
    if violations and not allowed:
        listed = "\n  ".join(violations)
        pytest.fail(f"requests broke the Sentry OpenAPI contract:\n  {listed}", pytrace=False)


@pytest.fixture
def sentry_env(sentry_emulator: SentryEmulator) -> dict[str, str]:
    """Environment variables that point the tool at the emulator's default org and project."""
    return {
        "SENTRY_URL": sentry_emulator.url,
        "SENTRY_AUTH_TOKEN": sentry_emulator.token,
        "SENTRY_ORG": sentry_emulator.org.slug,
        "SENTRY_PROJECT": sentry_emulator.project.slug,
    }
