"""Every command behaves alike: the same environment section, the same messages and exit codes however a
value arrived, and stdout that holds only the result (issue 10's fixes, tried as a new user would)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clirun import run_cli
from gitrepo import GitRepo

SECTIONS = """
[tool.sentry-release]
org = "acme"
[tool.sentry-release.environments.production]
projects = ["shop"]
[tool.sentry-release.environments.staging]
projects = ["shop-staging"]
"""


@pytest.fixture
def app(repo: GitRepo) -> GitRepo:
    repo.commit("init", {"VERSION": "1.0.0", "pyproject.toml": SECTIONS}, date="2024-01-16T10:00:00+00:00")
    return repo


@pytest.fixture
def server_env(sentry_emulator, sentry_env) -> dict[str, str]:
    sentry_emulator.add_project("acme", "shop-staging")
    return {key: value for key, value in sentry_env.items() if key != "SENTRY_PROJECT"}


def write_script(folder: Path, body: str) -> str:
    script = folder / "deploy.sh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return str(script)


def test_quiet_deploy_prints_exactly_the_name_though_the_script_talks(app: GitRepo, sentry_emulator,
                                                                      server_env) -> None:
    script = write_script(app.path, 'echo "deploying $SENTRY_RELEASE"\necho "done"\n')
    result = run_cli(["deploy", "-e", "staging", "-q", "--", script], app.path, env=server_env)
    assert result.code == 0, result.stderr
    assert result.stdout == "v1.0.0-20240116\n"
    assert "deploying v1.0.0-20240116" in result.stderr
    as_json = run_cli(["deploy", "-e", "production", "--json", "--", script], app.path, env=server_env)
    assert as_json.code == 0, as_json.stderr
    assert json.loads(as_json.stdout)["environment"] == "production"


@pytest.mark.parametrize("command", [["new"], ["set-commits", "--local"], ["finalize"]])
def test_every_release_command_takes_the_environment_section(app: GitRepo, sentry_emulator, server_env,
                                                              command: list[str]) -> None:
    if command[0] == "finalize":
        assert run_cli(["new", "-e", "staging"], app.path, env=server_env).code == 0
    result = run_cli([*command, "-e", "staging", "--json"], app.path, env=server_env)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["projects"] == ["shop-staging"]
    assert sentry_emulator.release("acme", "v1.0.0-20240116")["projects"][0]["slug"] == "shop-staging"


def test_export_takes_the_environment_section_too(app: GitRepo) -> None:
    app.write("pyproject.toml", SECTIONS + 'env-file = "deploy/.env.staging"\n')
    (app.path / "deploy").mkdir()
    result = run_cli(["export", "-e", "staging"], app.path)
    assert result.code == 0, result.stderr
    assert (app.path / "deploy" / ".env.staging").read_text() == "RELEASE=v1.0.0-20240116\n"


def test_export_without_a_target_says_so(app: GitRepo) -> None:
    result = run_cli(["export"], app.path)
    assert result.code == 0 and result.stdout == "v1.0.0-20240116\n"
    assert "no write-back target: pass --env-file" in result.stderr


def test_dry_run_without_a_target_says_so_not_to_nothing(app: GitRepo) -> None:
    result = run_cli(["deploy", "-e", "staging", "--dry-run"], app.path)
    assert result.code == 0, result.stderr
    assert "no write-back target" in result.stderr and "to nothing" not in result.stderr


def test_a_real_run_without_a_token_says_one_thing(app: GitRepo, sentry_emulator, server_env) -> None:
    env = {key: value for key, value in server_env.items() if key != "SENTRY_AUTH_TOKEN"}
    result = run_cli(["deploy", "-e", "staging"], app.path, env=env)
    assert result.code == 2
    assert result.stderr.strip().splitlines() == [
        "sentry-release: error: no auth token: set SENTRY_AUTH_TOKEN or pass --auth-token (or --dry-run to see "
        "the plan)"]
    assert sentry_emulator.requests == []


def test_a_directory_as_env_file_fails_alike_however_it_arrived(app: GitRepo, sentry_emulator, server_env,
                                                                 tmp_path: Path) -> None:
    (app.path / "envdir").mkdir()
    by_flag = run_cli(["deploy", "-e", "staging", "--env-file", "envdir"], app.path, env=server_env)
    app.write("pyproject.toml", SECTIONS + 'env-file = "envdir"\n')
    by_file = run_cli(["deploy", "-e", "staging"], app.path, env=server_env)
    app.write("pyproject.toml", SECTIONS)
    github = {"GITHUB_ACTIONS": "true", "GITHUB_ENV": str(app.path / "envdir")}
    by_runner = run_cli(["deploy", "-e", "staging"], app.path, env={**server_env, **github})
    assert by_flag.code == by_file.code == by_runner.code == 1
    for result in (by_flag, by_file):
        assert result.stderr.strip() == "sentry-release: error: envdir is a directory; name a file"
    assert "$GITHUB_ENV" in by_runner.stderr and "is a directory" in by_runner.stderr
    assert sentry_emulator.requests == []


def test_a_bad_env_file_path_is_named_once(app: GitRepo, sentry_emulator, server_env) -> None:
    result = run_cli(["deploy", "-e", "staging", "--env-file", "nope/.env.staging"], app.path, env=server_env)
    assert result.code == 1
    assert result.stderr.startswith("sentry-release: error: nope/.env.staging: folder ")
    assert result.stderr.count(".env.staging") == 1


def test_config_lists_the_environments_and_no_dotenv_outside_gitlab(app: GitRepo) -> None:
    result = run_cli(["config", "--json"], app.path)
    data = json.loads(result.stdout)
    assert data["environments"] == ["production", "staging"]
    assert data["settings"]["dotenv"]["value"] is None
    text = run_cli(["config", "-e", "production"], app.path).stdout
    assert re.search(r"^environments +production, staging$", text, re.M)
    gitlab = run_cli(["config", "--json"], app.path, env={"GITLAB_CI": "true"})
    assert json.loads(gitlab.stdout)["settings"]["dotenv"]["value"] == "sentry-release.env"


def test_deploy_config_and_check_agree_on_the_ci_environment(app: GitRepo) -> None:
    gitlab = {"GITLAB_CI": "true", "CI_ENVIRONMENT_NAME": "staging", "CI_PIPELINE_ID": "5"}
    config = json.loads(run_cli(["config", "--json"], app.path, env=gitlab).stdout)["settings"]
    assert config["environment"] == {"value": "staging", "source": "gitlab CI environment"}
    assert config["projects"]["value"] == ["shop-staging"]
    plan = run_cli(["deploy", "--dry-run"], app.path, env=gitlab)
    assert plan.code == 0, plan.stderr
    assert '"environment": "staging"' in plan.stderr and '"shop-staging"' in plan.stderr
