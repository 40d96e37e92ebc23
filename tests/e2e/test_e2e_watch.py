"""`sentry-release watch` against a real Sentry server: requests, scopes and response shapes.

The loopback server has no event pipeline (every health figure is zero), so only a healthy window
can happen here; the failing verdicts are tested on the emulator (tests/test_watch.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .harness import Project, SentryApi, SentryServer, cli_env, run_cli

pytestmark = pytest.mark.e2e


def deployed(server: SentryServer, project: Project, folder: Path) -> str:
    release = f"watch-{project.serial}"
    result = run_cli(["deploy", "-e", "production", "--release", release, "--commits", "skip"], folder,
                     cli_env(server, project))
    assert result.returncode == 0, result.stderr
    return release


def test_healthy_window_on_a_real_server(real_sentry: SentryServer, e2e_project: Project, tmp_path: Path) -> None:
    release = deployed(real_sentry, e2e_project, tmp_path)
    result = run_cli(["watch", "-e", "production", "--release", release, "--for", "3s", "--interval", "1s",
                      "--json"], tmp_path, cli_env(real_sentry, e2e_project))
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["status"] == "healthy" and verdict["healthy"] is True
    assert verdict["polls"] >= 2
    assert verdict["release_url"] == (f"{real_sentry.url}/organizations/{e2e_project.org}/releases/{release}/"
                                      "?environment=production")
    # a deploy token lacks event:read: the issue list answers 403, said once, and the count goes on
    # from the release details, which the release scopes can read
    assert result.stderr.count("cannot list issues (it lacks event:read)") == 1
    assert verdict["new_issues"] == 0
    # the real server has no sessions: said once, never a failure
    assert result.stderr.count("no session data") == 1
    assert verdict["crash_free"] is None and verdict["sessions"] == 0
    assert f"watching release {release} in production ({e2e_project.slug})" in result.stderr


def test_release_details_carry_the_fields_watch_reads(real_sentry: SentryServer, sentry_api: SentryApi,
                                                     e2e_project: Project, tmp_path: Path) -> None:
    release = deployed(real_sentry, e2e_project, tmp_path)
    answer = sentry_api.get(f"organizations/{e2e_project.org}/releases/{release}/",
                            params={"health": "1", "summaryStatsPeriod": "1h", "environment": "production"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["newGroups"] == 0
    (project,) = body["projects"]
    assert project["id"] == int(e2e_project.id) and project["newGroups"] == 0
    health = project["healthData"]
    assert {"totalSessions", "sessionsCrashed", "crashFreeSessions", "hasHealthData"} <= set(health)
    assert (health["totalSessions"], health["sessionsCrashed"], health["crashFreeSessions"]) == (0, 0, None)
    deploys = sentry_api.get(f"organizations/{e2e_project.org}/releases/{release}/deploys/").json()
    assert [d["environment"] for d in deploys] == ["production"] and deploys[0]["dateFinished"]


def test_a_read_only_token_cannot_read_the_release(real_sentry: SentryServer, e2e_project: Project,
                                                   tmp_path: Path) -> None:
    release = deployed(real_sentry, e2e_project, tmp_path)
    env = cli_env(real_sentry, e2e_project, token=real_sentry.ro_token)  # org:read only
    result = run_cli(["watch", "-e", "production", "--release", release, "--for", "2s", "--interval", "1s"],
                     tmp_path, env)
    assert result.returncode == 1
    assert "lacks the project:releases scope" in result.stderr
    assert real_sentry.ro_token not in result.stderr + result.stdout


def test_no_deploy_in_the_environment_is_bad_input(real_sentry: SentryServer, e2e_project: Project,
                                                   tmp_path: Path) -> None:
    release = deployed(real_sentry, e2e_project, tmp_path)
    result = run_cli(["watch", "-e", "staging", "--release", release, "--for", "2s"], tmp_path,
                     cli_env(real_sentry, e2e_project))
    assert result.returncode == 2
    assert f"release {release} has no deploy in 'staging'" in result.stderr
