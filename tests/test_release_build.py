"""The release workflow's dry mode, run for real: scripts/release.py build on a copy of the
project (the command .github/workflows/release.yml's build job runs), offline from a wheelhouse."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from runners.fixtures import action_copy, wheelhouse  # noqa: F401
from runners.support import PROJECT_PARTS, ROOT, base_env, pip_offline_env

RELEASE_WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
BUILD_COMMAND = ".release-venv/bin/python scripts/release.py build --tag \"$TAG\" --out dist --notes notes/release-notes.md"


def project_copy(dest: Path) -> Path:
    import shutil

    for part in PROJECT_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.is_file():
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / part)
    return dest


def version_of(project: Path) -> str:
    import re

    return re.search(r'^version = "([^"]+)"', (project / "pyproject.toml").read_text(), re.M).group(1)


def release_build(project: Path, wheels: Path, tag: str) -> subprocess.CompletedProcess[str]:
    env = base_env(project.parent / "home", **pip_offline_env(wheels))
    (project.parent / "home").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "scripts/release.py", "build", "--tag", tag, "--out", "dist",
         "--notes", "notes/release-notes.md"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )


def test_dry_release_builds_and_checks_the_artifacts(tmp_path: Path, wheelhouse: Path) -> None:  # noqa: F811
    project = project_copy(tmp_path / "project")
    version = version_of(project)
    result = release_build(project, wheelhouse, f"v{version}")
    assert result.returncode == 0, result.stdout + result.stderr

    wheel = project / "dist" / f"sentry_release-{version}-py3-none-any.whl"
    sdist = project / "dist" / f"sentry_release-{version}.tar.gz"
    assert result.stdout.split() == [str(wheel.relative_to(project)), str(sdist.relative_to(project))]
    assert result.stderr.count("PASSED") == 2, "twine check --strict passed both"
    with zipfile.ZipFile(wheel) as built:
        assert f"Version: {version}" in built.read(f"sentry_release-{version}.dist-info/METADATA").decode()
    with tarfile.open(sdist) as built:
        assert f"sentry_release-{version}/pyproject.toml" in built.getnames()
    # The GitHub release's notes: the changelog's section of this version, nothing else.
    notes = (project / "notes" / "release-notes.md").read_text()
    changelog = (project / "CHANGELOG.md").read_text()
    assert notes.strip() and notes.strip() in changelog
    assert "## [" not in notes and "]: http" not in notes


def test_a_tag_that_is_not_the_version_is_refused_before_building(tmp_path: Path, wheelhouse: Path) -> None:  # noqa: F811
    project = project_copy(tmp_path / "project")
    result = release_build(project, wheelhouse, "v99.0.0")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("release: tag v99.0.0 does not match pyproject.toml's version")
    assert not (project / "dist").exists()


def test_a_version_without_changelog_section_is_refused(tmp_path: Path, wheelhouse: Path) -> None:  # noqa: F811
    project = project_copy(tmp_path / "project")
    pyproject = project / "pyproject.toml"
    version = version_of(project)
    pyproject.write_text(pyproject.read_text().replace(f'version = "{version}"', 'version = "99.1.0"'))
    result = release_build(project, wheelhouse, "v99.1.0")
    assert result.returncode == 2
    assert "CHANGELOG.md's newest version is" in result.stderr and "'## [99.1.0]'" in result.stderr


@pytest.fixture(scope="module")
def release_jobs() -> dict:
    return yaml.safe_load(RELEASE_WORKFLOW.read_text())["jobs"]


def test_release_workflow_builds_with_the_tested_command(release_jobs: dict) -> None:
    runs = [step.get("run", "") for step in release_jobs["build"]["steps"]]
    assert any(BUILD_COMMAND in run for run in runs)
    assert "if" not in release_jobs["build"], "the build job is the dry mode: it runs on every trigger"


def test_only_a_tag_push_publishes(release_jobs: dict) -> None:
    workflow = yaml.safe_load(RELEASE_WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads `on` as true
    assert set(triggers) == {"push", "workflow_dispatch"}
    assert triggers["push"] == {"tags": ["v[0-9]+.[0-9]+.[0-9]+*"]}
    assert release_jobs["pypi"]["if"] == "github.event_name == 'push'"
    # Every later job needs the one before, so nothing publishes without pypi's gate.
    assert release_jobs["github-release"]["needs"] == "pypi"
    assert release_jobs["major-tag"]["needs"] == "github-release"


def test_pypi_uses_trusted_publishing(release_jobs: dict) -> None:
    pypi = release_jobs["pypi"]
    assert pypi["permissions"] == {"id-token": "write"}
    [publish] = [s for s in pypi["steps"] if s.get("uses", "").startswith("pypa/gh-action-pypi-publish@")]
    assert set(publish.get("with", {})) <= {"packages-dir"}, "no password or token input"
    assert "secrets." not in RELEASE_WORKFLOW.read_text()


@pytest.fixture(scope="module")
def release_wheelhouse(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """The runner wheelhouse plus build and twine, which the build job installs."""
    import shutil

    dest = tmp_path_factory.mktemp("release-wheels") / "wheelhouse"
    shutil.copytree(wheelhouse, dest)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--wheel-dir", str(dest),
         "build", "twine"],
        check=True, capture_output=True, text=True,
    )
    return dest


@pytest.mark.runners
def test_release_workflow_dry_mode_under_act(
    tmp_path: Path, release_wheelhouse: Path, action_copy: Path,  # noqa: F811
) -> None:
    """release.yml started by hand (workflow_dispatch): the build job builds and checks, and
    uploads the artifacts; the publishing jobs are skipped."""
    from runners.support import describe, make_project_repo, run_act, step_lines

    project = make_project_repo(tmp_path / "project", remote="https://github.com/sentry-release/sentry-release.git")
    artifacts = tmp_path / "artifacts"
    result, seconds = run_act(
        project, "release.yml", tmp_path, action_copy, secrets={}, variables={},
        env={"ARTIFACT_DIR": str(artifacts)}, wheels=release_wheelhouse, event="workflow_dispatch",
    )
    print(f"act run: {seconds:.1f} s")
    assert result.returncode == 0, describe(result)
    version = version_of(project)
    uploaded = artifacts / "release"
    assert sorted(p.name for p in (uploaded / "dist").iterdir()) == [
        f"sentry_release-{version}-py3-none-any.whl", f"sentry_release-{version}.tar.gz",
    ]
    notes = (uploaded / "notes" / "release-notes.md").read_text()
    assert notes.strip() and notes.strip() in (project / "CHANGELOG.md").read_text()
    assert sum("PASSED" in line for line in step_lines(result.stdout + result.stderr)) == 2, describe(result)
    assert "[release/Build and check]   ✅  Success - Main Build, twine check, release notes" in result.stdout
    for job in ("Publish to PyPI", "GitHub release", "Move the major tag"):
        assert f"/{job}] ⭐ Run" not in result.stdout, f"{job} ran in the dry mode"
