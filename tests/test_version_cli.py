"""`sentry-release version` and `export` on real repositories (issue 2 acceptance)."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from clirun import run_cli
from gitrepo import GitRepo


def test_tag_case(repo: GitRepo) -> None:
    repo.commit("init", {"app.py": "print(1)\n"}, date="2024-01-10T08:00:00+00:00")
    repo.commit("work", {"app.py": "print(2)\n"}, date="2024-01-16T10:00:00+00:00")
    repo.tag("v1.0.0")
    result = run_cli(["version"], repo.path)
    assert (result.code, result.stdout) == (0, "v1.0.0-20240116\n")


def test_pyproject_case_date_is_utc(repo: GitRepo) -> None:
    repo.commit("init", {"pyproject.toml": '[project]\nname = "shop"\nversion = "2.3.4"\n'},
                date="2025-03-01T23:30:00+02:00")
    result = run_cli(["version"], repo.path)
    assert result.stdout == "v2.3.4-20250301\n", result.stderr


def test_bad_release_name_exits_2_with_one_line(repo: GitRepo) -> None:
    repo.commit("init")
    result = run_cli(["version"], repo.path, env={"SENTRY_RELEASE": "bad/name"})
    assert result.code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad/name" in lines[0] and "Traceback" not in result.stderr


def test_nearest_version_tag_wins_and_other_tags_are_skipped(repo: GitRepo) -> None:
    repo.commit("one", date="2024-01-01T00:00:00+00:00")
    repo.tag("v0.9.0")
    repo.commit("two", date="2024-01-02T00:00:00+00:00")
    repo.tag("app-v1.2.3", annotated=True)
    repo.commit("three", date="2024-01-03T00:00:00+00:00")
    repo.tag("deploy-marker")
    assert run_cli(["version"], repo.path).stdout == "v1.2.3-20240103\n"


@pytest.mark.parametrize("files, expected", [
    ({"setup.cfg": "[metadata]\nname = shop\nversion = 3.1.0\n"}, "v3.1.0-20240116"),
    ({"package.json": '{"name": "shop", "version": "4.0.1"}'}, "v4.0.1-20240116"),
    ({"VERSION": "5.5\n"}, "v5.5-20240116"),
    ({"pyproject.toml": '[project]\nname = "shop"\ndynamic = ["version"]\n'
                        '[tool.setuptools.dynamic]\nversion = {attr = "shop.__version__"}\n',
      "src/shop/__init__.py": '__version__ = "6.0.0"\n'}, "v6.0.0-20240116"),
    ({"pyproject.toml": '[project]\nname = "shop"\ndynamic = ["version"]\n'
                        '[tool.hatch.version]\npath = "shop/__about__.py"\n',
      "shop/__about__.py": '__version__ = "7.1.2"\n'}, "v7.1.2-20240116"),
])
def test_file_sources(repo: GitRepo, files: dict, expected: str) -> None:
    repo.commit("init", files)
    result = run_cli(["version"], repo.path)
    assert result.stdout.strip() == expected, result.stderr


def test_json_says_where_each_part_came_from(repo: GitRepo) -> None:
    repo.commit("init", {"VERSION": "1.0.0"})
    data = json.loads(run_cli(["version", "--json"], repo.path, env={"SENTRY_AUTH_TOKEN": "sntryu_" + "a" * 64}).stdout)
    assert data["parts"]["version"] == {"value": "1.0.0", "source": "VERSION file"}
    assert data["parts"]["date"]["source"].startswith("HEAD commit date")
    assert data["settings"]["auth_token"]["value"] == "sntryu_***"


def test_template_with_sha_branch_and_build(repo: GitRepo) -> None:
    sha = repo.commit("init", {"VERSION": "1.0.0"})
    env = {"GITLAB_CI": "true", "CI_COMMIT_BRANCH": "feature/login", "CI_PIPELINE_IID": "42"}
    result = run_cli(["version", "--template", "{version}+{branch}.{build}.{short_sha}"], repo.path, env=env)
    assert result.stdout.strip() == f"1.0.0+feature-login.42.{sha[:7]}"


def test_date_source_pipeline(repo: GitRepo) -> None:
    repo.commit("init", {"VERSION": "1.0.0"})
    env = {"GITLAB_CI": "true", "CI_PIPELINE_CREATED_AT": "2024-02-29T23:59:00-01:00"}
    assert run_cli(["version", "--date-source", "pipeline"], repo.path, env=env).stdout == "v1.0.0-20240301\n"


def test_no_version_anywhere_says_what_to_do(repo: GitRepo) -> None:
    repo.commit("init")
    result = run_cli(["version"], repo.path)
    assert result.code == 2 and "--base-version" in result.stderr


def test_shallow_clone_fetches_tags(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("one", {"a": "1"}, date="2024-01-01T00:00:00+00:00")
    repo.tag("v1.4.0")
    for day in range(2, 6):
        repo.commit(f"c{day}", {"a": str(day)}, date=f"2024-01-0{day}T00:00:00+00:00")
    clone = repo.clone(tmp_path / "shallow", depth=1)
    assert clone.git("rev-parse", "--is-shallow-repository") == "true"
    result = run_cli(["version"], clone.path)
    assert result.stdout == "v1.4.0-20240105\n"
    assert "fetching tags" in result.stderr


def test_shallow_clone_without_fetch_fails_with_the_fix_instead_of_another_source(repo: GitRepo,
                                                                                 tmp_path: Path) -> None:
    repo.commit("one", {"a": "1", "VERSION": "0.0.1"}, date="2024-01-01T00:00:00+00:00")
    repo.tag("v1.4.0")
    repo.commit("two", {"a": "2"}, date="2024-01-02T00:00:00+00:00")
    clone = repo.clone(tmp_path / "shallow", depth=1)
    result = run_cli(["version", "--no-fetch"], clone.path)
    assert (result.code, result.stdout) == (1, "")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--no-fetch" in lines[0]
    assert "fetch-depth: 0" in lines[0] and "GIT_DEPTH: 0" in lines[0] and "version-source" in lines[0]


def test_export_env_file_keeps_everything_else(repo: GitRepo) -> None:
    repo.commit("init", {"VERSION": "1.0.0"})
    env_file = repo.path / ".env"
    original = b"# app settings\nSENTRY_DSN=https://k@o1.ingest.sentry.io/2\n\nexport RELEASE=old # note\nDEBUG=False\n"
    env_file.write_bytes(original)
    env_file.chmod(0o640)
    result = run_cli(["export", "--env-file", ".env", "--env-key", "RELEASE", "--env-key", "SENTRY_RELEASE"],
                     repo.path)
    assert result.code == 0, result.stderr
    text = env_file.read_bytes()
    assert text == original.replace(b"RELEASE=old", b"RELEASE=v1.0.0-20240116") + b"SENTRY_RELEASE=v1.0.0-20240116\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o640


def test_export_in_github_actions(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("init", {"VERSION": "1.0.0"})
    github_env, github_output = tmp_path / "env", tmp_path / "output"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_ENV": str(github_env), "GITHUB_OUTPUT": str(github_output)}
    assert run_cli(["export"], repo.path, env=env).code == 0
    assert "RELEASE=v1.0.0-20240116\n" in github_env.read_text()
    assert "release=v1.0.0-20240116\n" in github_output.read_text()


def test_export_gitlab_dotenv_and_formats(repo: GitRepo) -> None:
    repo.commit("init", {"VERSION": "1.0.0"})
    result = run_cli(["export", "--format", "json"], repo.path, env={"GITLAB_CI": "true"})
    assert json.loads(result.stdout) == {"RELEASE": "v1.0.0-20240116"}
    assert (repo.path / "sentry-release.env").read_text() == "RELEASE=v1.0.0-20240116\n"
    shell = run_cli(["export", "--format", "shell", "--env-key", "SENTRY_RELEASE"], repo.path)
    assert shell.stdout.strip() == "export SENTRY_RELEASE=v1.0.0-20240116"


def test_config_shows_sources_and_masks_token(repo: GitRepo) -> None:
    repo.commit("init", {"pyproject.toml": '[tool.sentry-release]\norg = "acme"\n'})
    token = "sntryu_" + "f" * 64
    result = run_cli(["config"], repo.path, env={"SENTRY_AUTH_TOKEN": token, "SENTRY_PROJECT": "shop"})
    assert token not in result.output
    assert re.search(r'^org +"acme"  \(pyproject.toml \[tool.sentry-release\]\)$', result.stdout, re.M)
    assert "($SENTRY_PROJECT)" in result.stdout


def test_help_teaches() -> None:
    result = run_cli(["--help"], Path.cwd())
    assert "sentry-release deploy -e production" in result.stdout
    assert "--dry-run" in result.stdout


def test_python_dash_m_works(repo: GitRepo) -> None:
    import subprocess
    import sys
    repo.commit("init", {"VERSION": "1.0.0"})
    out = subprocess.run([sys.executable, "-m", "sentry_release", "version"], cwd=repo.path, capture_output=True,
                         text=True)
    assert out.stdout == "v1.0.0-20240116\n"
