"""Schema and contract checks of action.yml and the two GitLab files (no runner needed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from runners.support import HERE, ROOT, require_tool

ACTION = ROOT / "action.yml"
TEMPLATE = ROOT / ".gitlab-ci-template.yml"
COMPONENT = ROOT / "templates" / "sentry-release.yml"
DOCS = ROOT / "docs" / "ci.md"

ACTION_INPUTS = {
    "environment", "release", "version", "release_prefix", "projects", "set_commits", "finalize",
    "ignore_missing", "started_at", "working_directory", "url", "org", "env_file", "env_key",
    "deploy_name", "deploy_url", "dry_run", "python",
    "watch", "max_new_issues", "min_crash_free",
}
ACTION_OUTPUTS = {"release", "release_url", "commits", "deploy_id", "healthy"}
COMPONENT_INPUTS = {"stage", "environment", "projects", "set_commits", "finalize", "version", "pip_spec",
                    "watch", "max_new_issues", "min_crash_free"}
INPUT_REF = re.compile(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]")


def load_documents(path: Path) -> list[Any]:
    return list(yaml.safe_load_all(path.read_text()))


@pytest.fixture(scope="module")
def gitlab_schema() -> dict[str, Any]:
    """check-jsonschema's bundled copy of GitLab's CI schema."""
    schema_file = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "gitlab-ci.json"
    return json.loads(schema_file.read_text(encoding="utf-8"))


def validate(schema: dict[str, Any], document: Any) -> None:
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def project_version() -> str:
    return re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


# --- action.yml -------------------------------------------------------------------------------

def test_action_matches_github_actions_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-actions", str(ACTION)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_inputs_and_outputs() -> None:
    action = yaml.safe_load(ACTION.read_text())
    assert set(action["inputs"]) == ACTION_INPUTS
    assert action["inputs"]["finalize"]["default"] == "true"
    assert action["inputs"]["set_commits"]["default"] == "auto"
    assert action["inputs"]["python"]["default"] == "python3"
    step_ids = {step.get("id") for step in action["runs"]["steps"]}
    assert set(action["outputs"]) == ACTION_OUTPUTS
    for name, output in action["outputs"].items():
        # GitHub surfaces only declared outputs of a composite action, mapped from a step.
        match = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}", output["value"])
        assert match and match.group(1) in step_ids and match.group(2) == name


def test_action_is_composite_without_remote_code() -> None:
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    for step in action["runs"]["steps"]:
        assert "uses" not in step, "no remote or Docker actions: they cannot run offline"
        assert step.get("shell") == "bash"
        # Inputs reach scripts through env:, never spliced into the script text (injection),
        # and never through INPUT_* (composite actions do not get them on GitHub).
        assert "${{" not in step["run"]
        assert "INPUT_" not in step["run"]
    for name in ACTION_INPUTS:
        assert f"${{{{ inputs.{name} }}}}" in ACTION.read_text(), f"input {name} is never used"


# --- GitLab files ------------------------------------------------------------------------------

def test_template_documents_match_gitlab_schema(gitlab_schema: dict[str, Any]) -> None:
    documents = load_documents(TEMPLATE)
    assert len(documents) == 1
    for document in documents:
        validate(gitlab_schema, document)
    # The schema accepts anything under a hidden key: check the job as a job.
    validate(gitlab_schema, {"sentry-release": documents[0][".sentry-release"]})


def test_template_job_contract() -> None:
    job = load_documents(TEMPLATE)[0][".sentry-release"]
    assert job["artifacts"]["reports"]["dotenv"] == "sentry-release.env"
    assert job["variables"]["SENTRY_RELEASE_PIP_SPEC"] == f"sentry-release=={project_version()}"
    script = "\n".join(job["script"])
    assert 'python3 -m pip install --quiet --disable-pip-version-check "$SENTRY_RELEASE_PIP_SPEC"' in script
    assert 'sentry-release deploy --environment "${CI_ENVIRONMENT_NAME:-$SENTRY_ENVIRONMENT}"' in script
    assert {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"} in job["rules"]


def interpolate_defaults(text: str, inputs: dict[str, Any]) -> str:
    def default(match: re.Match[str]) -> str:
        value = inputs[match.group(1)]["default"]
        return json.dumps(value) if isinstance(value, bool) else str(value)
    return INPUT_REF.sub(default, text)


def test_component_documents_match_gitlab_schema(gitlab_schema: dict[str, Any]) -> None:
    header_text, jobs_text = COMPONENT.read_text().split("\n---\n")
    header, jobs = load_documents(COMPONENT)
    validate(gitlab_schema, header)
    inputs = header["spec"]["inputs"]
    assert set(inputs) == COMPONENT_INPUTS
    assert set(INPUT_REF.findall(jobs_text)) == COMPONENT_INPUTS, "every input used, none undeclared"
    # GitLab validates the jobs after interpolation: do the same with the defaults.
    filled = yaml.safe_load(interpolate_defaults(jobs_text, inputs))
    validate(gitlab_schema, filled)
    job = filled["sentry-release"]
    assert job["stage"] == "deploy"
    assert job["artifacts"]["reports"]["dotenv"] == "sentry-release.env"
    assert job["variables"]["SENTRY_RELEASE_FINALIZE"] == "true"
    assert job["variables"]["SENTRY_RELEASE_PIP_SPEC"] == f"sentry-release=={project_version()}"


def test_component_inputs() -> None:
    inputs = load_documents(COMPONENT)[0]["spec"]["inputs"]
    assert inputs["set_commits"]["options"] == ["auto", "local", "skip"]
    assert inputs["set_commits"]["default"] in inputs["set_commits"]["options"]
    assert inputs["finalize"] == {**inputs["finalize"], "type": "boolean", "default": True}
    # Values enter the job as variables, so no input is spliced into script text.
    jobs = load_documents(COMPONENT)[1]
    assert not INPUT_REF.search("\n".join(jobs["sentry-release"]["script"]))


# --- docs --------------------------------------------------------------------------------------

@pytest.mark.parametrize("example", [
    HERE / "github" / "deploy.yml",
    HERE / "gitlab" / "template.gitlab-ci.yml",
    HERE / "gitlab" / "component.gitlab-ci.yml",
    HERE / "github" / "watch.yml",
    HERE / "gitlab" / "watch-template.gitlab-ci.yml",
    HERE / "gitlab" / "watch-component.gitlab-ci.yml",
])
def test_docs_show_the_tested_examples(example: Path) -> None:
    """The copy-paste examples are the files the runner tests run, verbatim."""
    assert example.read_text().strip() in DOCS.read_text()


def test_missing_runner_fails_with_install_hint() -> None:
    """A missing act or gitlab-ci-local fails the runner tests, never skips them."""
    with pytest.raises(pytest.fail.Exception, match="scripts/install-runners.sh"):
        require_tool("no-such-runner-sentry-release")


# --- the action's argument building, run directly with bash ------------------------------------

def deploy_script() -> str:
    steps = yaml.safe_load(ACTION.read_text())["runs"]["steps"]
    return next(step["run"] for step in steps if step.get("id") == "deploy")


def run_deploy_step(tmp_path: Path, **inputs: str) -> subprocess.CompletedProcess[str]:
    """The deploy step with a stand-in CLI that records its arguments as JSON."""
    fake = tmp_path / "fake-cli"
    fake.write_text(f'#!{sys.executable}\nimport json, os, sys\n'
                    'print("ARGS=" + json.dumps({"cwd": os.getcwd(), "argv": sys.argv[1:]}))\n')
    fake.chmod(0o755)
    workspace = tmp_path / "workspace"
    (workspace / "app").mkdir(parents=True, exist_ok=True)
    env = {"PATH": "/usr/bin:/bin", "GITHUB_WORKSPACE": str(workspace), "SR_BIN": str(fake)}
    names = ["environment", "release", "version", "release_prefix", "projects", "set_commits",
             "finalize", "ignore_missing", "started_at", "working_directory", "url", "org",
             "env_file", "env_key", "deploy_name", "deploy_url", "dry_run"]
    defaults = {"set_commits": "auto", "finalize": "true", "ignore_missing": "false", "dry_run": "false"}
    for name in names:
        env[f"SR_{name.upper()}"] = inputs.get(name, defaults.get(name, ""))
    return subprocess.run(["bash", "-c", deploy_script()], env=env, capture_output=True, text=True, cwd=tmp_path)


def recorded(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    line = next(line for line in result.stdout.splitlines() if line.startswith("ARGS="))
    return json.loads(line[len("ARGS="):])


def test_action_defaults_become_flags(tmp_path: Path) -> None:
    result = run_deploy_step(tmp_path, environment="production")
    assert result.returncode == 0, result.stderr
    call = recorded(result)
    assert call["argv"] == ["deploy", "--environment", "production", "--commits", "auto", "--finalize"]
    assert call["cwd"] == str(tmp_path / "workspace")
    assert "::group::sentry-release deploy" in result.stdout and "::endgroup::" in result.stdout


def test_action_inputs_become_flags_without_shell_surprises(tmp_path: Path) -> None:
    result = run_deploy_step(
        tmp_path, environment="prod $(touch pwned)", version="refs/tags/1.0.0", release_prefix="shop@",
        projects="web, *\n worker,,api", set_commits="LOCAL", finalize="0", ignore_missing="TRUE",
        started_at="1700000000", working_directory="app", url="http://127.0.0.1:9", org="acme",
        env_file=".env", env_key="RELEASE SENTRY_RELEASE", deploy_name="run 7",
        deploy_url="https://ci/7", dry_run="1",
    )
    assert result.returncode == 0, result.stderr
    call = recorded(result)
    assert call["argv"] == [
        "deploy", "--environment", "prod $(touch pwned)", "--release", "1.0.0",
        "--release-prefix", "shop@", "--project", "web", "--project", "*", "--project", "worker",
        "--project", "api", "--env-key", "RELEASE", "--env-key", "SENTRY_RELEASE",
        "--commits", "local", "--ignore-missing", "--no-finalize", "--started-at", "1700000000",
        "--url", "http://127.0.0.1:9", "--org", "acme", "--env-file", ".env",
        "--deploy-name", "run 7", "--deploy-url", "https://ci/7", "--dry-run",
    ]
    assert call["cwd"] == str(tmp_path / "workspace" / "app")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("inputs, message", [
    ({"finalize": "maybe"}, "input finalize is not a boolean: 'maybe'"),
    ({"dry_run": "yes please"}, "input dry_run is not a boolean"),
    ({"set_commits": "manual"}, "set_commits must be auto, local or skip, not 'manual'"),
])
def test_action_rejects_bad_inputs(tmp_path: Path, inputs: dict[str, str], message: str) -> None:
    result = run_deploy_step(tmp_path, environment="production", **inputs)
    assert result.returncode == 2
    assert f"::error title=sentry-release::{message}" in result.stdout
    assert "ARGS=" not in result.stdout


# --- the watch step (issue 14) -------------------------------------------------------------------

def run_watch_step(tmp_path: Path, **inputs: str) -> subprocess.CompletedProcess[str]:
    steps = yaml.safe_load(ACTION.read_text())["runs"]["steps"]
    step = next(step for step in steps if step.get("id") == "watch")
    assert step["if"] == "inputs.watch != ''"
    fake = tmp_path / "fake-cli"
    fake.write_text(f'#!{sys.executable}\nimport json, os, sys\n'
                    'print("ARGS=" + json.dumps({"cwd": os.getcwd(), "argv": sys.argv[1:]}))\n')
    fake.chmod(0o755)
    workspace = tmp_path / "workspace"
    (workspace / "app").mkdir(parents=True, exist_ok=True)
    env = {"PATH": "/usr/bin:/bin", "GITHUB_WORKSPACE": str(workspace), "SR_BIN": str(fake)}
    for name in ("release", "environment", "projects", "url", "org", "watch", "max_new_issues",
                 "min_crash_free", "dry_run", "working_directory"):
        env[f"SR_{name.upper()}"] = inputs.get(name, "false" if name == "dry_run" else "")
    return subprocess.run(["bash", "-c", step["run"]], env=env, capture_output=True, text=True, cwd=tmp_path)


def test_watch_step_passes_the_deployed_release_and_thresholds(tmp_path: Path) -> None:
    result = run_watch_step(tmp_path, release="v1.2.0-20240116", environment="production", watch="10m",
                            max_new_issues="0", min_crash_free="99.5", projects="web, worker",
                            working_directory="app")
    assert result.returncode == 0, result.stderr
    call = recorded(result)
    assert call["argv"] == ["watch", "--release", "v1.2.0-20240116", "--for", "10m",
                            "--environment", "production", "--project", "web", "--project", "worker",
                            "--max-new-issues", "0", "--min-crash-free", "99.5"]
    assert call["cwd"] == str(tmp_path / "workspace" / "app")


def test_watch_step_leaves_defaults_to_the_tool_and_skips_dry_runs(tmp_path: Path) -> None:
    assert recorded(run_watch_step(tmp_path, release="v1", watch="90s"))["argv"] == [
        "watch", "--release", "v1", "--for", "90s"]
    skipped = run_watch_step(tmp_path, release="v1", watch="90s", dry_run="TRUE")
    assert skipped.returncode == 0 and "ARGS=" not in skipped.stdout and "watch is skipped" in skipped.stdout
