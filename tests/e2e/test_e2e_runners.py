"""The documented GitHub workflow under act and the documented GitLab pipelines under
gitlab-ci-local, against a real Sentry server (issue 5's "against a real Sentry"), read back
through its API.

The CI files are the ones tests/runners holds (the copies README.md and docs/ci.md show);
the runners are driven as tests/test_action_act.py and tests/test_gitlab_ci_local.py drive
them, with the emulator's URL, token, org and project replaced by the real server's and a
fresh project per test. Each app repository carries a version tag unique to its project, so
release names never collide across tests or runs (release versions are organization-wide).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Dict, List
from urllib.parse import quote

import pytest

from gitrepo import GitRepo
from runners.fixtures import action_copy, wheelhouse  # noqa: F401  (session fixtures)
from runners.support import (
    HERE, ROOT, base_env, describe, dotenv_values, fill, gitlab_dotenv_problems,
    job_lines, pip_offline_env, require_tool, run_act, run_timed, step_lines, TEMPLATE_INCLUDE,
    COMPONENT_INCLUDE,
)

from .harness import Project, SentryApi, SentryServer

pytestmark = pytest.mark.e2e

GITHUB_REMOTE = "https://github.com/acme/shop.git"
GITLAB_REMOTE = "git@gitlab.example.com:acme/shop.git"


def app_repo(path: Path, project: Project, files: Dict[str, str], remote: str) -> GitRepo:
    """Two app commits, the second tagged with the project's own version on 2024-01-16, then
    the CI files on top the same day; origin/main and origin/HEAD as a clone has them."""
    repo = GitRepo.init(path)
    repo.commit("Initial commit", {"README.md": "shop\n"}, date="2024-01-15T09:00:00+00:00")
    repo.commit("Add the app", {"app/main.py": "print('shop')\n"}, date="2024-01-16T10:00:00+00:00")
    repo.tag(f"v{project.version(0)}")
    repo.commit("Add CI configuration", files, date="2024-01-16T11:00:00+00:00")
    repo.git("remote", "add", "origin", remote)
    repo.git("update-ref", "refs/remotes/origin/main", "HEAD")
    repo.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    return repo


def expected_release(project: Project) -> str:
    return f"v{project.version(0)}-20240116.2"  # HEAD is the second commit of that day since the tag


def release_path(project: Project, version: str) -> str:
    return f"organizations/{project.org}/releases/{quote(version, safe='')}/"


def assert_release_with_production_deploy(api: SentryApi, project: Project, version: str,
                                          repo: GitRepo, log: str, ci: str) -> List[dict]:
    response = api.get(release_path(project, version))
    assert response.status_code == 200, f"release {version}: {response.status_code}\n{log}"
    release = response.json()
    assert release["dateReleased"], "finalized by default"
    assert [p["slug"] for p in release["projects"]] == [project.slug]
    commits = api.get_all(release_path(project, version) + "commits/")
    # no provider-backed repository matches the remote: local history, all three commits
    assert sorted(c["id"] for c in commits) == sorted(repo.git("rev-list", "HEAD").split())
    deploys = api.get_all(release_path(project, version) + "deploys/")
    assert [d["environment"] for d in deploys] == ["production"], deploys
    assert re.fullmatch(rf"{ci}-\d+", deploys[0]["name"] or ""), deploys  # named after the CI run
    return deploys


def assert_no_token(server: SentryServer, result: subprocess.CompletedProcess) -> None:
    text = result.stdout + result.stderr
    assert server.token not in text, "the auth token appears in the runner's log"


# ---- GitHub Actions under act ----------------------------------------------------------------

def test_documented_workflow_under_act_records_release_and_deploy(
        tmp_path: Path, real_sentry: SentryServer, sentry_api: SentryApi, e2e_project: Project,
        action_copy: Path, wheelhouse: Path) -> None:  # noqa: F811
    workflow = (HERE / "github" / "deploy.yml").read_text()
    repo = app_repo(tmp_path / "app", e2e_project, {".github/workflows/deploy.yml": workflow},
                    GITHUB_REMOTE)
    version = expected_release(e2e_project)

    result, seconds = run_act(
        repo.path, "deploy.yml", tmp_path, action_copy,
        secrets={"SENTRY_AUTH_TOKEN": real_sentry.token},
        variables={"SENTRY_ORG": e2e_project.org, "SENTRY_PROJECT": e2e_project.slug,
                   "SENTRY_URL": real_sentry.url},
        env={}, wheels=wheelhouse, timeout=600,
    )
    print(f"act run against the real Sentry: {seconds:.1f} s")
    assert result.returncode == 0, describe(result)
    assert_no_token(real_sentry, result)

    deploys = assert_release_with_production_deploy(sentry_api, e2e_project, version, repo,
                                                    describe(result), "github")
    lines = step_lines(result.stdout)
    # the next step sees RELEASE in its environment and the step's outputs
    assert f"RELEASE={version}" in lines, describe(result)
    outputs = [line for line in lines if line.startswith("outputs: ")]
    assert len(outputs) == 1, describe(result)
    assert f"release={version} " in outputs[0]
    assert " commits=3 " in outputs[0]
    assert f" deploy_id={deploys[0]['id']} " in outputs[0]
    url = re.search(r" url=(\S+)$", outputs[0])
    assert url and url.group(1).startswith(real_sentry.url) and version in url.group(1), outputs[0]


# ---- GitLab CI under gitlab-ci-local ---------------------------------------------------------

def run_pipeline(app: Path, tmp: Path, server: SentryServer, project: Project, wheels: Path
                 ) -> tuple:
    gcl = require_tool("gitlab-ci-local")
    home = tmp / "gcl-home"
    home.mkdir()
    # CI/CD variables as a project would set them; the file is untracked, as GitLab's are.
    variables = {
        "SENTRY_AUTH_TOKEN": server.token, "SENTRY_ORG": project.org,
        "SENTRY_PROJECT": project.slug, "SENTRY_URL": server.url,
        **pip_offline_env(wheels),
    }
    (app / ".gitlab-ci-local-variables.yml").write_text(json.dumps(variables))
    args = [gcl, "--shell-isolation", "--force-shell-executor",
            "--variable", "GITLAB_CI=true", "--home", str(home)]
    return run_timed(args, cwd=app, env=base_env(home), timeout=600)


def assert_pipeline_handed_over_the_release(
        app: GitRepo, result: subprocess.CompletedProcess, server: SentryServer,
        api: SentryApi, project: Project) -> None:
    version = expected_release(project)
    assert result.returncode == 0, describe(result)
    assert_no_token(server, result)
    assert_release_with_production_deploy(api, project, version, app, describe(result), "gitlab")
    assert f"Deployed release {version}" in job_lines(result.stdout, "smoke-test"), describe(result)
    reports = list((app.path / ".gitlab-ci-local" / "artifacts" / "sentry-release")
                   .rglob("sentry-release.env"))
    assert len(reports) == 1, describe(result)
    report = reports[0].read_bytes()
    assert gitlab_dotenv_problems(report) == []
    assert dotenv_values(report)["RELEASE"] == version


def test_template_pipeline_under_gitlab_ci_local(
        tmp_path: Path, real_sentry: SentryServer, sentry_api: SentryApi, e2e_project: Project,
        wheelhouse: Path) -> None:  # noqa: F811
    files = {
        ".gitlab-ci.yml": fill(HERE / "gitlab" / "template.gitlab-ci.yml", [TEMPLATE_INCLUDE]),
        ".gitlab-ci-template.yml": (ROOT / ".gitlab-ci-template.yml").read_text(),
    }
    app = app_repo(tmp_path / "app", e2e_project, files, GITLAB_REMOTE)

    result, seconds = run_pipeline(app.path, tmp_path, real_sentry, e2e_project, wheelhouse)
    print(f"gitlab-ci-local (template) against the real Sentry: {seconds:.1f} s")
    assert_pipeline_handed_over_the_release(app, result, real_sentry, sentry_api, e2e_project)


def test_component_pipeline_under_gitlab_ci_local(
        tmp_path: Path, real_sentry: SentryServer, sentry_api: SentryApi, e2e_project: Project,
        wheelhouse: Path) -> None:  # noqa: F811
    files = {
        ".gitlab-ci.yml": fill(HERE / "gitlab" / "component.gitlab-ci.yml", [COMPONENT_INCLUDE]),
        "templates/sentry-release.yml": (ROOT / "templates" / "sentry-release.yml").read_text(),
    }
    app = app_repo(tmp_path / "app", e2e_project, files, GITLAB_REMOTE)

    result, seconds = run_pipeline(app.path, tmp_path, real_sentry, e2e_project, wheelhouse)
    print(f"gitlab-ci-local (component) against the real Sentry: {seconds:.1f} s")
    assert_pipeline_handed_over_the_release(app, result, real_sentry, sentry_api, e2e_project)
