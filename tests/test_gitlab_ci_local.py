"""The GitLab template and component run by gitlab-ci-local (shell executor) against the
Sentry emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runners.fixtures import APP_RELEASE, make_app_repo, wheelhouse  # noqa: F401
from runners.support import (
    HERE, PROJECT_DATE, ROOT, base_env, describe, dotenv_values, fill, gitlab_dotenv_problems, job_lines,
    make_project_repo, pip_offline_env, require_tool, run_timed, TEMPLATE_INCLUDE, COMPONENT_INCLUDE,
)

pytestmark = pytest.mark.runners

PIPELINES = HERE / "gitlab"
GITLAB_REMOTE = "git@gitlab.example.com:acme/shop.git"



def run_pipeline(app: Path, tmp: Path, emu, wheels: Path):
    gcl = require_tool("gitlab-ci-local")
    home = tmp / "gcl-home"
    home.mkdir()
    # CI/CD variables as a project would set them; the file is untracked, as GitLab's are.
    variables = {
        "SENTRY_AUTH_TOKEN": emu.token, "SENTRY_ORG": emu.org.slug,
        "SENTRY_PROJECT": emu.project.slug, "SENTRY_URL": emu.url,
        **pip_offline_env(wheels),
    }
    (app / ".gitlab-ci-local-variables.yml").write_text(json.dumps(variables))
    args = [
        gcl, "--shell-isolation", "--force-shell-executor",
        "--variable", "GITLAB_CI=true", "--home", str(home),
    ]
    return run_timed(args, cwd=app, env=base_env(home))


def dotenv_report(app: Path, job: str) -> bytes:
    reports = list((app / ".gitlab-ci-local" / "artifacts" / job).rglob("sentry-release.env"))
    assert reports, f"no dotenv report exported by {job}"
    return reports[0].read_bytes()


def assert_release_recorded(emu, result) -> None:
    release = emu.release(emu.org, APP_RELEASE)
    assert release is not None, describe(result)
    assert release["dateReleased"], "finalized"
    assert [p["slug"] for p in release["projects"]] == [emu.project.slug]
    assert len(emu.commits(emu.org, APP_RELEASE)) == 3
    assert [d["environment"] for d in emu.deploys(emu.org, APP_RELEASE)] == ["production"]


def test_template_pipeline_passes_release_to_later_job(
    sentry_emulator, tmp_path: Path, wheelhouse: Path,  # noqa: F811
) -> None:
    emu = sentry_emulator
    pipeline = fill(PIPELINES / "template.gitlab-ci.yml", [TEMPLATE_INCLUDE])
    files = {".gitlab-ci.yml": pipeline, ".gitlab-ci-template.yml": (ROOT / ".gitlab-ci-template.yml").read_text()}
    app = make_app_repo(tmp_path / "app", files, remote=GITLAB_REMOTE).path

    result, seconds = run_pipeline(app, tmp_path, emu, wheelhouse)
    print(f"gitlab-ci-local run: {seconds:.1f} s")
    assert result.returncode == 0, describe(result)
    assert emu.token not in result.stdout + result.stderr

    assert_release_recorded(emu, result)
    assert f"Deployed release {APP_RELEASE}" in job_lines(result.stdout, "smoke-test"), describe(result)
    report = dotenv_report(app, "sentry-release")
    assert gitlab_dotenv_problems(report) == []
    assert dotenv_values(report)["RELEASE"] == APP_RELEASE


def test_component_pipeline_passes_release_to_later_job(
    sentry_emulator, tmp_path: Path, wheelhouse: Path,  # noqa: F811
) -> None:
    emu = sentry_emulator
    pipeline = fill(PIPELINES / "component.gitlab-ci.yml", [COMPONENT_INCLUDE])
    # The component is read from templates/ of the project itself at the pipeline's commit.
    files = {
        ".gitlab-ci.yml": pipeline,
        "templates/sentry-release.yml": (ROOT / "templates" / "sentry-release.yml").read_text(),
    }
    app = make_app_repo(tmp_path / "app", files, remote=GITLAB_REMOTE).path

    result, seconds = run_pipeline(app, tmp_path, emu, wheelhouse)
    print(f"gitlab-ci-local run: {seconds:.1f} s")
    assert result.returncode == 0, describe(result)

    assert_release_recorded(emu, result)
    assert f"Deployed release {APP_RELEASE}" in job_lines(result.stdout, "smoke-test"), describe(result)
    report = dotenv_report(app, "sentry-release")
    assert gitlab_dotenv_problems(report) == []
    assert dotenv_values(report)["RELEASE"] == APP_RELEASE


@pytest.mark.parametrize("data, problem", [
    (b"RELEASE=v1\n", None),
    (b"RELEASE=v1\n\nOTHER=x\n", "blank line"),
    (b"# made by sentry-release\nRELEASE=v1\n", "comment"),
    (b'RELEASE="v1"\n', "quoted"),
    (b"export RELEASE=v1\n", "key"),
    (b"RELEASE=" + b"x" * 6000 + b"\n", "5 KB"),
])
def test_gitlab_dotenv_rules(data: bytes, problem: str | None) -> None:
    """The checker itself, so a lenient gitlab-ci-local cannot hide a file GitLab rejects."""
    problems = gitlab_dotenv_problems(data)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_project_pipeline_tests_its_own_component_in_dry_run(
    tmp_path: Path, wheelhouse: Path,  # noqa: F811
) -> None:
    """.gitlab-ci.yml of this component project: the component included from this commit
    (dry run, installed from the checkout), and a later job that checks the RELEASE it passed."""
    gcl = require_tool("gitlab-ci-local")
    project = make_project_repo(tmp_path / "project", remote="git@gitlab.example.com:sentry-release/sentry-release.git")
    home = tmp_path / "gcl-home"
    home.mkdir()
    # No token: a dry run then plans without the server; the URL makes sure nothing leaves.
    variables = {"SENTRY_URL": "http://127.0.0.1:9", **pip_offline_env(wheelhouse)}
    (project / ".gitlab-ci-local-variables.yml").write_text(json.dumps(variables))
    result, seconds = run_timed(
        [gcl, "--shell-isolation", "--force-shell-executor", "--variable", "GITLAB_CI=true", "--home", str(home)],
        cwd=project, env=base_env(home),
    )
    print(f"gitlab-ci-local run: {seconds:.1f} s")
    assert result.returncode == 0, describe(result)

    expected = f"v{project_version()}-{PROJECT_DATE[:10].replace('-', '')}"
    component = job_lines(result.stdout + result.stderr, "sentry-release")  # stderr: the plan
    assert any("request(s) would be sent" in line for line in component), describe(result)
    assert f"RELEASE={expected}" in component
    report = dotenv_report(project, "sentry-release")
    assert gitlab_dotenv_problems(report) == []
    assert dotenv_values(report) == {"RELEASE": expected}
    checked = job_lines(result.stdout, "component-output")
    assert f"RELEASE from the component's dotenv report - {expected} (expected v<version>-{expected[-8:]})" in checked, \
        describe(result)
    # No tag: the catalog release jobs do not run.
    assert not job_lines(result.stdout, "release") and not job_lines(result.stdout, "release-notes")


def project_version() -> str:
    import re

    return re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


def test_component_trusts_a_checkout_owned_by_another_user(
    sentry_emulator, tmp_path: Path, wheelhouse: Path,  # noqa: F811
) -> None:
    emu = sentry_emulator
    pipeline = fill(PIPELINES / "foreign-checkout.gitlab-ci.yml", [COMPONENT_INCLUDE])
    files = {
        ".gitlab-ci.yml": pipeline,
        "templates/sentry-release.yml": (ROOT / "templates" / "sentry-release.yml").read_text(),
    }
    app = make_app_repo(tmp_path / "app", files, remote=GITLAB_REMOTE).path

    result, _ = run_pipeline(app, tmp_path, emu, wheelhouse)
    assert result.returncode == 0, describe(result)
    # git itself refuses the checkout; sentry-release's own git calls are trusted.
    assert "git refuses the checkout" in job_lines(result.stdout + result.stderr, "sentry-release"), describe(result)
    assert_release_recorded(emu, result)
    assert f"Deployed release {APP_RELEASE}" in job_lines(result.stdout, "smoke-test"), describe(result)
