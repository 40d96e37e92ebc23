"""action.yml run by a real GitHub Actions runner (act, host mode) against the Sentry emulator."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runners.fixtures import APP_RELEASE, action_copy, make_app_repo, wheelhouse  # noqa: F401
from runners.support import HERE, PROJECT_DATE, ROOT, describe, make_project_repo, run_act, step_lines

pytestmark = pytest.mark.runners

WORKFLOWS = HERE / "github"


def app_with_workflow(path: Path, workflow: str) -> Path:
    files = {f".github/workflows/{workflow}": (WORKFLOWS / workflow).read_text()}
    return make_app_repo(path, files).path


def test_documented_workflow_creates_release_and_deploy(
    sentry_emulator, tmp_path: Path, action_copy: Path, wheelhouse: Path,  # noqa: F811
) -> None:
    emu = sentry_emulator
    app = app_with_workflow(tmp_path / "app", "deploy.yml")
    result, seconds = run_act(
        app, "deploy.yml", tmp_path, action_copy,
        secrets={"SENTRY_AUTH_TOKEN": emu.token},
        variables={"SENTRY_ORG": emu.org.slug, "SENTRY_PROJECT": emu.project.slug, "SENTRY_URL": emu.url},
        env={}, wheels=wheelhouse,
    )
    print(f"act run: {seconds:.1f} s")
    assert result.returncode == 0, describe(result)
    assert emu.token not in result.stdout + result.stderr

    release = emu.release(emu.org, APP_RELEASE)
    assert release is not None, describe(result)
    assert release["dateReleased"], "finalized by default"
    assert [p["slug"] for p in release["projects"]] == [emu.project.slug]
    commits = emu.commits(emu.org, APP_RELEASE)
    assert len(commits) == 3
    deploys = emu.deploys(emu.org, APP_RELEASE)
    assert [d["environment"] for d in deploys] == ["production"]

    lines = step_lines(result.stdout)
    # The next step sees RELEASE in its environment and the declared step outputs.
    assert f"RELEASE={APP_RELEASE}" in lines, describe(result)
    outputs = next(line for line in lines if line.startswith("outputs: "))
    assert f"release={APP_RELEASE} " in outputs
    assert " commits=3 " in outputs
    assert f" deploy_id={deploys[0]['id']} " in outputs
    url = re.search(r" url=(\S+)$", outputs)
    assert url and APP_RELEASE in url.group(1)
    # The User-Agent names the CLI and the Action, both at the package's version.
    version = project_version()
    assert {r.headers["user-agent"] for r in emu.requests} == {
        f"sentry-release/{version} sentry-release-action/{version}"
    }
    # Log lines are grouped (act shows the workflow commands as they are).
    assert result.stdout.count("::group::") == result.stdout.count("::endgroup::") == 2


def test_inputs_reach_the_cli(
    sentry_emulator, tmp_path: Path, action_copy: Path, wheelhouse: Path,  # noqa: F811
) -> None:
    emu = sentry_emulator
    second = emu.add_project(emu.org, "shop-worker")
    app = app_with_workflow(tmp_path / "app", "inputs.yml")
    results = tmp_path / "results"
    results.mkdir()
    result, _ = run_act(
        app, "inputs.yml", tmp_path, action_copy,
        secrets={"SENTRY_AUTH_TOKEN": emu.token},
        variables={
            "SENTRY_ORG": emu.org.slug, "SENTRY_URL": emu.url,
            "PROJECTS": f"{emu.project.slug}, {second.slug}",
        },
        env={"RESULT_DIR": str(results)}, wheels=wheelhouse,
    )
    assert result.returncode == 0, describe(result)

    name = "shop@2.0.0"  # `version` alias, refs/tags/ dropped, release_prefix in front
    release = emu.release(emu.org, name)
    assert release is not None, describe(result)
    assert release["dateReleased"] is None, "finalize: false"
    assert sorted(p["slug"] for p in release["projects"]) == sorted([emu.project.slug, second.slug])
    assert emu.commits(emu.org, name) == [], "set_commits: SKIP"
    [deploy] = emu.deploys(emu.org, name)
    assert (deploy["environment"], deploy["name"], deploy["url"]) == (
        "staging", "deploy 42", "https://example.com/deploys/42"
    )

    outputs = json.loads((results / "outputs.json").read_text())
    assert outputs["release"] == name
    assert outputs["deploy_id"] == deploy["id"]
    assert outputs["commits"] == "0"
    assert (results / "release-env.txt").read_text() == name
    # working_directory: app, so env_file .env is app/.env, with both keys
    env_lines = (results / "app.env").read_text().splitlines()
    assert f"RELEASE={name}" in env_lines and f"SENTRY_RELEASE={name}" in env_lines


def test_project_ci_runs_the_action_from_its_checkout(
    tmp_path: Path, action_copy: Path, wheelhouse: Path,  # noqa: F811
) -> None:
    """.github/workflows/ci.yml's `action` job: `uses: ./` in dry run, and its output check."""
    project = make_project_repo(tmp_path / "project", remote="https://github.com/sentry-release/sentry-release.git")
    result, seconds = run_act(
        project, "ci.yml", tmp_path, action_copy, secrets={}, variables={},
        # No token: a dry run then plans without the server; the URL makes sure nothing leaves.
        env={"SENTRY_URL": "http://127.0.0.1:9"}, wheels=wheelhouse, extra_args=["-j", "action"],
    )
    print(f"act run: {seconds:.1f} s")
    assert result.returncode == 0, describe(result)
    lines = step_lines(result.stdout)
    expected = f"ci-v{project_version()}-{PROJECT_DATE[:10].replace('-', '')}"
    assert f"release output: {expected} (expected ci-v<version>-{expected[-8:]})" in lines, describe(result)
    assert "outputs ok" in lines
    assert "Test suite" not in result.stdout, "only the action job runs here"
    # The dry run printed its plan and sent nothing.
    assert any("request(s) would be sent" in line for line in lines), describe(result)


def project_version() -> str:
    return re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


def test_action_release_workflow_with_manual_commits_in_a_foreign_checkout(
    sentry_emulator, tmp_path: Path, action_copy: Path, wheelhouse: Path,  # noqa: F811
) -> None:
    emu = sentry_emulator
    shas = [f"{n}" * 40 for n in "abc"]
    emu.add_repo(emu.org, "acme/shop", url="https://github.com/acme/shop",
                 commits=[{"id": sha, "message": f"commit {sha[0]}"} for sha in shas])
    app = app_with_workflow(tmp_path / "app", "manual.yml")
    results = tmp_path / "results"
    results.mkdir()
    result, _ = run_act(
        app, "manual.yml", tmp_path, action_copy,
        secrets={"SENTRY_AUTH_TOKEN": emu.token},
        variables={"SENTRY_ORG": emu.org.slug, "SENTRY_PROJECT": emu.project.slug, "SENTRY_URL": emu.url,
                   "PREVIOUS_COMMIT": shas[0], "COMMIT": shas[2]},
        env={"RESULT_DIR": str(results)}, wheels=wheelhouse,
    )
    assert result.returncode == 0, describe(result)
    assert emu.token not in result.stdout + result.stderr

    # disable_safe_directory: git's refusal stops the step before anything is sent.
    assert (results / "refused.txt").read_text() == "failure"
    assert "no base version was found" in result.stdout or "dubious ownership" in result.stdout
    # By default the foreign checkout is trusted: the name comes from its tag and HEAD's date.
    name = f"shop@{APP_RELEASE}"
    release = emu.release(emu.org, name)
    assert release is not None, describe(result)
    assert emu.release(emu.org, APP_RELEASE) is None, "the refused step created nothing"
    assert release["dateReleased"], "finalized"
    assert emu.head_commits(emu.org, name)["acme/shop"] == {
        "repository": "acme/shop", "commit": shas[2], "previousCommit": shas[0],
    }
    assert [c["id"] for c in emu.commits(emu.org, name)] == [shas[2], shas[1]]
    [deploy] = emu.deploys(emu.org, name)
    assert deploy["environment"] == "production"
    outputs = json.loads((results / "outputs.json").read_text())
    assert outputs["release"] == name
    assert outputs["commits"] == "2"
    assert outputs["deploy_id"] == deploy["id"]
