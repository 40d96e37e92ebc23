"""The watch gate (issue 14) in real runners: the Action under act, the GitLab template and
component under gitlab-ci-local, against the emulator's health data."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from emulator.health import add_issue, set_sessions
from runners.fixtures import APP_RELEASE, action_copy, make_app_repo, wheelhouse  # noqa: F401
from runners.support import (
    COMPONENT_INCLUDE, HERE, ROOT, TEMPLATE_INCLUDE, base_env, describe, fill, job_lines, pip_offline_env,
    require_tool, run_act, run_timed, step_lines,
)

pytestmark = pytest.mark.runners

EVENT_TOKEN = "sntryu_" + "e8" * 32
SHORT_WINDOW = ("watch: 10m", "watch: 3s")
GITLAB_REMOTE = "git@gitlab.example.com:acme/shop.git"


@pytest.fixture
def emu(sentry_emulator):
    sentry_emulator.add_token(EVENT_TOKEN, ["project:releases", "project:read", "org:read", "event:read"])
    set_sessions(sentry_emulator.store, sentry_emulator.project, APP_RELEASE, "production", total=500, crashed=0)
    return sentry_emulator


def issue_once_deployed(emu, title: str) -> threading.Thread:
    """An issue first seen in the release right after its deploy is recorded (as a bad deploy does)."""
    def wait_and_add() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not emu.deploys(emu.org, APP_RELEASE):
            time.sleep(0.05)
        add_issue(emu.store, emu.project, APP_RELEASE, "production", title)

    thread = threading.Thread(target=wait_and_add, daemon=True)
    thread.start()
    return thread


# -- GitHub Action under act ------------------------------------------------------------------

def run_watch_workflow(emu, tmp_path: Path, action: Path, wheels: Path):
    workflow = fill(HERE / "github" / "watch.yml", [SHORT_WINDOW])
    app = make_app_repo(tmp_path / "app", {".github/workflows/watch.yml": workflow}).path
    return run_act(app, "watch.yml", tmp_path, action, secrets={"SENTRY_AUTH_TOKEN": EVENT_TOKEN},
                   variables={"SENTRY_ORG": emu.org.slug, "SENTRY_PROJECT": emu.project.slug, "SENTRY_URL": emu.url},
                   env={}, wheels=wheels)


def test_action_gate_passes_a_healthy_release(emu, tmp_path: Path, action_copy: Path, wheelhouse: Path) -> None:  # noqa: F811
    result, seconds = run_watch_workflow(emu, tmp_path, action_copy, wheelhouse)
    print(f"act run: {seconds:.1f} s")
    assert result.returncode == 0, describe(result)
    lines = step_lines(result.stdout)
    assert any(line.startswith(f"healthy: release {APP_RELEASE} in production") for line in lines), describe(result)
    assert not any("Rolling back" in line for line in lines)
    assert emu.requests_to("GET", "/issues/"), "the gate polled the release"


def test_action_gate_fails_the_job_and_the_rollback_step_runs(
        emu, tmp_path: Path, action_copy: Path, wheelhouse: Path) -> None:  # noqa: F811
    issue_once_deployed(emu, "ZeroDivisionError: division by zero")
    result, _ = run_watch_workflow(emu, tmp_path, action_copy, wheelhouse)
    assert result.returncode != 0, describe(result)
    lines = step_lines(result.stdout)
    assert any(line.startswith(f"unhealthy: release {APP_RELEASE} in production has 1 new issue(s)")
               for line in lines), describe(result)
    assert any("ZeroDivisionError: division by zero" in line for line in lines)
    assert f"Rolling back release {APP_RELEASE}" in lines, describe(result)
    assert EVENT_TOKEN not in result.stdout + result.stderr


# -- GitLab template and component under gitlab-ci-local ----------------------------------------

def run_pipeline(app: Path, tmp: Path, emu, wheels: Path):
    gcl = require_tool("gitlab-ci-local")
    home = tmp / "gcl-home"
    home.mkdir()
    variables = {"SENTRY_AUTH_TOKEN": EVENT_TOKEN, "SENTRY_ORG": emu.org.slug, "SENTRY_PROJECT": emu.project.slug,
                 "SENTRY_URL": emu.url, **pip_offline_env(wheels)}
    (app / ".gitlab-ci-local-variables.yml").write_text(json.dumps(variables))
    args = [gcl, "--shell-isolation", "--force-shell-executor", "--variable", "GITLAB_CI=true", "--home", str(home)]
    return run_timed(args, cwd=app, env=base_env(home))


def template_app(tmp_path: Path) -> Path:
    pipeline = fill(HERE / "gitlab" / "watch-template.gitlab-ci.yml",
                    [TEMPLATE_INCLUDE, ("SENTRY_RELEASE_WATCH: 10m", "SENTRY_RELEASE_WATCH: 3s")])
    files = {".gitlab-ci.yml": pipeline, ".gitlab-ci-template.yml": (ROOT / ".gitlab-ci-template.yml").read_text()}
    return make_app_repo(tmp_path / "app", files, remote=GITLAB_REMOTE).path


def component_app(tmp_path: Path) -> Path:
    pipeline = fill(HERE / "gitlab" / "watch-component.gitlab-ci.yml", [COMPONENT_INCLUDE, SHORT_WINDOW])
    files = {".gitlab-ci.yml": pipeline,
             "templates/sentry-release.yml": (ROOT / "templates" / "sentry-release.yml").read_text()}
    return make_app_repo(tmp_path / "app", files, remote=GITLAB_REMOTE).path


@pytest.mark.parametrize("make_app", [template_app, component_app], ids=["template", "component"])
def test_gitlab_gate_passes_a_healthy_release(emu, tmp_path: Path, wheelhouse: Path, make_app) -> None:  # noqa: F811
    result, seconds = run_pipeline(make_app(tmp_path), tmp_path, emu, wheelhouse)
    print(f"gitlab-ci-local run: {seconds:.1f} s")
    assert result.returncode == 0, describe(result)
    lines = job_lines(result.stdout, "sentry-release")
    assert any(line.startswith(f"healthy: release {APP_RELEASE} in production") for line in lines), describe(result)
    assert not job_lines(result.stdout, "rollback")


@pytest.mark.parametrize("make_app", [template_app, component_app], ids=["template", "component"])
def test_gitlab_gate_fails_the_pipeline_and_rollback_runs(emu, tmp_path: Path, wheelhouse: Path, make_app) -> None:  # noqa: F811
    issue_once_deployed(emu, "KeyError: 'cart'")
    result, _ = run_pipeline(make_app(tmp_path), tmp_path, emu, wheelhouse)
    assert result.returncode != 0, describe(result)
    lines = job_lines(result.stdout, "sentry-release")
    assert any(line.startswith(f"unhealthy: release {APP_RELEASE} in production has 1 new issue(s)")
               for line in lines), describe(result)
    assert "Rolling back production" in job_lines(result.stdout, "rollback"), describe(result)
    assert EVENT_TOKEN not in result.stdout + result.stderr
