"""Bad input and hostile surroundings: one-line errors, the right exit code, nothing changed.

Found by trying to break the tool as a demanding user would; each case is a former defect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from clirun import run_cli
from gitrepo import GitRepo
from stubserver import stub_server

TOKEN = "sntryu_" + "c0ffee" * 10 + "abcd"


@pytest.fixture
def app(repo: GitRepo) -> GitRepo:
    repo.commit("init", {"VERSION": "1.0.0"}, date="2024-01-16T10:00:00+00:00")
    repo.git("remote", "add", "origin", "git@github.com:acme/shop.git")
    return repo


def assert_one_line_error(result, code: int, *fragments: str) -> None:
    assert result.code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert lines and all(fragment in lines[-1] for fragment in fragments), result.stderr
    assert TOKEN not in result.output


@pytest.fixture
def web_page() -> Iterator[str]:
    """A server on 127.0.0.1 that is not Sentry: a web page, and a redirect to a login."""

    def answer(method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        if "releases" in path:
            return 302, {"Location": "/login/"}, b""
        return 200, {"Content-Type": "text/html"}, b"<!DOCTYPE html><html><body>hello</body></html>"

    with stub_server(answer) as url:
        yield url


def env_for(url: str) -> dict[str, str]:
    return {"SENTRY_URL": url, "SENTRY_AUTH_TOKEN": TOKEN, "SENTRY_ORG": "acme", "SENTRY_PROJECT": "shop"}


def test_a_server_that_is_not_sentry_is_named_not_trusted(app: GitRepo, web_page: str) -> None:
    (app.path / ".env").write_text("RELEASE=before\n")
    result = run_cli(["deploy", "-e", "production", "--env-file", ".env"], app.path, env=env_for(web_page))
    assert_one_line_error(result, 1, "check SENTRY_URL")
    assert (app.path / ".env").read_text() == "RELEASE=before\n"
    created = run_cli(["new"], app.path, env=env_for(web_page))
    assert_one_line_error(created, 1, "redirected to /login/", "check SENTRY_URL")


@pytest.mark.parametrize("url", ["127.0.0.1:9000", "ftp://sentry.example.com", "http://", "http://127.0.0.1:99999"])
def test_malformed_sentry_url_is_a_usage_error(app: GitRepo, url: str) -> None:
    result = run_cli(["new"], app.path, env=env_for(url))
    assert_one_line_error(result, 2, "$SENTRY_URL")


def test_api_base_pasted_as_url_is_accepted(app: GitRepo, sentry_emulator, sentry_env) -> None:
    result = run_cli(["new"], app.path, env={**sentry_env, "SENTRY_URL": sentry_emulator.url + "/api/0/"})
    assert result.code == 0, result.stderr


def test_token_with_trailing_newline_works_and_odd_tokens_are_refused(app: GitRepo, sentry_emulator,
                                                                     sentry_env) -> None:
    padded = run_cli(["new"], app.path, env={**sentry_env, "SENTRY_AUTH_TOKEN": sentry_emulator.token + "\n"})
    assert padded.code == 0, padded.stderr
    for bad in (TOKEN[:20] + " " + TOKEN[20:], TOKEN + "ö"):
        result = run_cli(["new"], app.path, env={**sentry_env, "SENTRY_AUTH_TOKEN": bad})
        assert_one_line_error(result, 2, "$SENTRY_AUTH_TOKEN")
        assert bad.strip() not in result.output and TOKEN[:20] not in result.output


@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "0"])
def test_timeout_must_be_finite(app: GitRepo, value: str) -> None:
    result = run_cli(["new"], app.path, env={**env_for("http://127.0.0.1:9"), "SENTRY_HTTP_TIMEOUT": value})
    assert_one_line_error(result, 2, "$SENTRY_HTTP_TIMEOUT")


def test_missing_token_is_a_usage_error(app: GitRepo) -> None:
    env = {k: v for k, v in env_for("http://127.0.0.1:9").items() if k != "SENTRY_AUTH_TOKEN"}
    assert_one_line_error(run_cli(["new"], app.path, env=env), 2, "SENTRY_AUTH_TOKEN")


def test_repo_without_remote_deploys_with_unnamed_repository(repo: GitRepo, sentry_emulator, sentry_env) -> None:
    repo.commit("init", {"VERSION": "1.0.0"}, date="2024-01-16T10:00:00+00:00")
    result = run_cli(["deploy", "-e", "production"], repo.path, env=sentry_env)
    assert result.code == 0, result.stderr
    commits = sentry_emulator.requests_to("PUT")[0].json["commits"]
    assert "repository" not in commits[0]


def test_dry_run_never_runs_the_wrapped_command(app: GitRepo, sentry_emulator, sentry_env) -> None:
    result = run_cli(["deploy", "-e", "production", "--dry-run", "--", "touch", "DEPLOYED"], app.path,
                     env=sentry_env)
    assert result.code == 0, result.stderr
    assert not (app.path / "DEPLOYED").exists()
    assert "would run touch DEPLOYED" in result.stderr
    assert "dateReleased" in result.stderr.split("would run")[1]    # finalize after the command, planned
    quiet = run_cli(["deploy", "-e", "production", "--dry-run", "-q", "--", "true"], app.path, env=sentry_env)
    assert quiet.stdout == "v1.0.0-20240116\n"   # the plan goes to stderr, even with -q


def test_failed_command_restores_the_env_file_and_prints_no_release(app: GitRepo, sentry_emulator,
                                                                   sentry_env) -> None:
    (app.path / ".env").write_text("RELEASE=before\n")
    result = run_cli(["deploy", "-e", "production", "--env-file", ".env", "--", "false"], app.path, env=sentry_env)
    assert result.code == 1 and result.stdout == ""
    assert (app.path / ".env").read_text() == "RELEASE=before\n"


def test_command_killed_by_a_signal_exits_like_a_shell(app: GitRepo, sentry_emulator, sentry_env) -> None:
    result = run_cli(["deploy", "-e", "production", "--", "sh", "-c", "kill -TERM $$"], app.path, env=sentry_env)
    assert result.code == 143 and "SIGTERM" in result.stderr


def test_unwritable_targets_fail_before_any_request(app: GitRepo, sentry_emulator, sentry_env,
                                                    tmp_path: Path) -> None:
    github = {"GITHUB_ACTIONS": "true", "GITHUB_ENV": str(tmp_path / "missing" / "env")}
    result = run_cli(["deploy", "-e", "production"], app.path, env={**sentry_env, **github})
    assert_one_line_error(result, 1, "$GITHUB_ENV", "does not exist")
    dotenv = run_cli(["deploy", "-e", "production", "--dotenv", str(tmp_path / "nope" / "r.env")], app.path,
                     env=sentry_env)
    assert_one_line_error(dotenv, 1, "dotenv report", "does not exist")
    assert sentry_emulator.requests == []


def test_empty_release_flag_is_refused(app: GitRepo) -> None:
    assert_one_line_error(run_cli(["version", "--release", ""], app.path), 2, "empty")


def test_clear_with_commit_is_refused(app: GitRepo, sentry_emulator, sentry_env) -> None:
    result = run_cli(["set-commits", "--clear", "--commit", "acme/shop@abc"], app.path, env=sentry_env)
    assert_one_line_error(result, 2, "--clear")
    assert sentry_emulator.requests == []


def test_double_range_commit_spec_is_refused(app: GitRepo, sentry_emulator, sentry_env) -> None:
    result = run_cli(["set-commits", "--commit", "acme/shop@a..b..c"], app.path, env=sentry_env)
    assert_one_line_error(result, 2, "a..b..c")


@pytest.mark.parametrize("body, fragment", [
    ('[tool.sentry-release]\norg = 5\n', "org"),
    ('[tool.sentry-release]\nprojects = [1, 2]\n', "projects"),
    ('[tool.sentry-release]\nhttp-max-retries = true\n', "http-max-retries"),
    ('[tool.sentry-release]\nenvironments = 5\n', "environments"),
])
def test_wrong_types_in_pyproject(app: GitRepo, body: str, fragment: str) -> None:
    app.write("pyproject.toml", body)
    assert_one_line_error(run_cli(["config"], app.path), 2, fragment)


def test_environment_without_a_section_is_refused_when_sections_exist(app: GitRepo) -> None:
    app.write("pyproject.toml", '[tool.sentry-release.environments.production]\nprojects = ["shop"]\n'
                                '[tool.sentry-release.environments.staging]\nprojects = ["shop-staging"]\n')
    for command in (["config"], ["deploy", "--dry-run"], ["version"], ["new", "--dry-run"]):
        result = run_cli([*command, "-e", "prodution"], app.path)
        assert_one_line_error(result, 2, "'prodution'", "known: production, staging")


def test_project_flag_splits_on_commas(app: GitRepo) -> None:
    result = run_cli(["config", "--json", "-p", "shop,worker"], app.path)
    assert '"shop",\n        "worker"' in result.stdout


def test_pyproject_at_the_root_serves_a_subdirectory(repo: GitRepo) -> None:
    repo.commit("init", {"pyproject.toml": '[project]\nname = "shop"\nversion = "3.0.0"\n', "app/x.py": "x"},
                date="2024-01-16T10:00:00+00:00")
    assert run_cli(["version"], repo.path / "app").stdout == "v3.0.0-20240116\n"


def test_deploy_that_finishes_before_it_starts_is_refused(app: GitRepo, sentry_emulator, sentry_env) -> None:
    result = run_cli(["deploy", "-e", "production", "--started-at", "2024-01-16T10:00:00Z",
                      "--finished-at", "2024-01-16T09:00:00Z"], app.path, env=sentry_env)
    assert_one_line_error(result, 2, "--started-at")
    assert sentry_emulator.requests == []
