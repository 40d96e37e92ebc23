"""One version everywhere: pyproject.toml's (the package metadata) is the source; the changelog,
`sentry-release --version`, the User-Agent, the Action and the GitLab files' defaults follow it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from clirun import run_cli
from gitrepo import GitRepo
from runners.support import ACTION_REF, COMPONENT_INCLUDE, ROOT, TEMPLATE_INCLUDE

sys.path.insert(0, str(ROOT / "scripts"))
import release as release_script  # noqa: E402  (scripts/release.py)

VERSION = release_script.project_version(ROOT)
REINSTALL = "the installed package is stale: run .venv/bin/pip install -e '.[test]'"


def test_changelog_newest_version_is_the_package_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert release_script.changelog_versions(changelog)[0] == VERSION
    assert "## [Unreleased]" in changelog, "Keep a Changelog: an Unreleased section on top"
    assert release_script.changelog_section(changelog, VERSION).strip()


def test_cli_version_is_the_package_version() -> None:
    result = subprocess.run([sys.executable, "-m", "sentry_release", "--version"], capture_output=True, text=True)
    assert result.stdout.strip() == f"sentry-release, version {VERSION}", REINSTALL


def test_user_agent_carries_the_package_version(repo: GitRepo, sentry_emulator, sentry_env) -> None:
    repo.commit("init", {"VERSION": "1.0.0"})
    run_cli(["new"], repo.path, env=sentry_env)
    assert sentry_emulator.requests[0].headers["user-agent"] == f"sentry-release/{VERSION}", REINSTALL


def test_action_takes_its_version_from_the_installed_package() -> None:
    """The Action installs its own copy; its User-Agent suffix is that copy's --version (checked
    under act in tests/test_action_act.py), so action.yml itself names no version."""
    text = (ROOT / "action.yml").read_text()
    assert not re.search(r"\d+\.\d+\.\d+", text.replace("3.7.0", "")), "a hard-coded version in action.yml"
    assert "sentry-release-action/$SR_TOOL_VERSION" in text
    steps = yaml.safe_load(text)["runs"]["steps"]
    install = next(step for step in steps if step.get("id") == "install")
    assert 'echo "version=${version##* }" >> "$GITHUB_OUTPUT"' in install["run"]


def test_gitlab_defaults_install_this_version() -> None:
    template = yaml.safe_load((ROOT / ".gitlab-ci-template.yml").read_text())
    assert template[".sentry-release"]["variables"]["SENTRY_RELEASE_PIP_SPEC"] == f"sentry-release=={VERSION}"
    header = next(yaml.safe_load_all((ROOT / "templates" / "sentry-release.yml").read_text()))
    assert header["spec"]["inputs"]["pip_spec"]["default"] == f"sentry-release=={VERSION}"


def test_documented_pins_are_this_version() -> None:
    """Every `sentry-release==X`, `@vX` and component `@X` in the docs and examples is this version."""
    pins = re.compile(r"sentry-release==(\d[\w.]*)|sentry-release/sentry-release@v(\d[\w.]*)"
                      r"|/sentry-release/sentry-release@(\d[\w.]*)|ref: v(\d[\w.]*)")
    files = [ROOT / "README.md", ROOT / "docs" / "ci.md", ROOT / ".gitlab-ci-template.yml",
             ROOT / "templates" / "sentry-release.yml", *sorted((ROOT / "tests" / "runners").rglob("*.yml"))]
    found = {(path.relative_to(ROOT).as_posix(), next(v for v in match.groups() if v))
             for path in files for match in pins.finditer(path.read_text())}
    assert found, "the pattern finds the documented pins"
    assert {pin for pin in found if pin[1] != VERSION} == set()
    # The runner tests map the documented references onto the checkout.
    assert ACTION_REF == f"sentry-release/sentry-release@v{VERSION}"
    assert f"ref: v{VERSION}" in TEMPLATE_INCLUDE[0] and COMPONENT_INCLUDE[0].endswith(f"@{VERSION}")
