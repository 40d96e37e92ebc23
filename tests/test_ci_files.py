"""Schema and contract checks of action.yml and the two GitLab files (no runner needed)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gitrepo import GitRepo
from runners.support import HERE, ROOT, require_tool

ACTION = ROOT / "action.yml"
TEMPLATE = ROOT / ".gitlab-ci-template.yml"
COMPONENT = ROOT / "templates" / "sentry-release.yml"
DOCS = ROOT / "docs" / "ci.md"

ACTION_INPUTS = {
    "environment", "release", "version", "release_prefix", "projects", "set_commits", "finalize",
    "ignore_missing", "started_at", "working_directory", "url", "org", "env_file", "env_key",
    "deploy_name", "deploy_url", "dry_run", "python",
    # the rest of getsentry/action-release 3.7.0's inputs
    "version_prefix", "ignore_empty", "repo", "commit", "previous_commit", "disable_telemetry",
    "disable_safe_directory", "sourcemaps", "inject", "dist", "url_prefix", "strip_common_prefix",
    "watch", "max_new_issues", "min_crash_free",
}
# getsentry/action-release 3.7.0's action.yml inputs (../shared/peers/REFERENCE.md §11).
ACTION_RELEASE_INPUTS = {
    "environment", "sourcemaps", "inject", "dist", "finalize", "ignore_missing", "ignore_empty",
    "started_at", "release", "version", "release_prefix", "version_prefix", "set_commits", "repo",
    "commit", "previous_commit", "projects", "url_prefix", "strip_common_prefix", "working_directory",
    "disable_telemetry", "disable_safe_directory",
}
SOURCEMAP_INPUTS = ("sourcemaps", "inject", "dist", "url_prefix", "strip_common_prefix")
ACTION_OUTPUTS = {"release", "release_url", "commits", "deploy_id", "healthy"}
COMPONENT_INPUTS = {"stage", "environment", "projects", "set_commits", "finalize", "version", "pip_spec",
                    "disable_safe_directory", "dry_run", "watch", "max_new_issues", "min_crash_free"}
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


# Feather icons GitHub's Marketplace accepts include these; colors are a fixed list.
MARKETPLACE_COLORS = {"white", "black", "yellow", "blue", "green", "orange", "red", "purple", "gray-dark"}


def test_action_meets_marketplace_rules() -> None:
    action = yaml.safe_load(ACTION.read_text())
    assert action["name"].strip() and action["author"].strip()
    assert 0 < len(action["description"]) <= 125, len(action["description"])
    assert action["branding"]["color"] in MARKETPLACE_COLORS
    assert re.fullmatch(r"[a-z0-9-]+", action["branding"]["icon"])


# --- the project's own workflows ---------------------------------------------------------------

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_project_workflows_exist() -> None:
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "release.yml"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_matches_github_workflows_schema(workflow: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_workflow_runs_the_readme_test_command_and_the_action_from_the_checkout() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert set(workflow[True]) == {"push", "pull_request"}  # YAML 1.1 reads `on` as true
    readme_command = re.search(r"^    (python3 -m venv .*scripts/test\.sh)$", (ROOT / "README.md").read_text(), re.M)
    assert readme_command, "the README states the test command"
    runs = [step.get("run", "") for step in workflow["jobs"]["test"]["steps"]]
    assert readme_command.group(1) in runs
    [action_step] = [s for s in workflow["jobs"]["action"]["steps"] if s.get("uses") == "./"]
    assert action_step["with"]["dry_run"] == "true"


def test_project_gitlab_ci_matches_gitlab_schema(gitlab_schema: dict[str, Any]) -> None:
    pipeline = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())
    validate(gitlab_schema, pipeline)
    [include] = pipeline["include"]
    assert include["component"] == "$CI_SERVER_FQDN/$CI_PROJECT_PATH/sentry-release@$CI_COMMIT_SHA"
    assert include["inputs"]["dry_run"] is True
    release = pipeline["release"]
    assert release["release"]["tag_name"] == "$CI_COMMIT_TAG"
    assert release["rules"] == [{"if": r"$CI_COMMIT_TAG =~ /^\d+\.\d+\.\d+$/"}]


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


def deploy_step_env_names() -> dict[str, str]:
    """The deploy step's SR_* variables and the input each one carries."""
    steps = yaml.safe_load(ACTION.read_text())["runs"]["steps"]
    env = next(step["env"] for step in steps if step.get("id") == "deploy")
    found = {name: re.fullmatch(r"\$\{\{ inputs\.(\w+) \}\}", value) for name, value in env.items()}
    return {name: match.group(1) for name, match in found.items() if match}


def run_deploy_step(tmp_path: Path, extra_env: dict[str, str] | None = None,
                    **inputs: str) -> subprocess.CompletedProcess[str]:
    """The deploy step with a stand-in CLI that records each call (arguments, folder, the git and
    User-Agent settings it was given) as a JSON line in calls.jsonl."""
    calls = tmp_path / "calls.jsonl"
    # Laid out as the install step leaves it: the console script next to the venv's python.
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").symlink_to(sys.executable)
    fake = tmp_path / "bin" / "sentry-release"
    fake.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('GIT_CONFIG') or k == 'SENTRY_PIPELINE'}\n"
        f"with open({str(calls)!r}, 'a') as log:\n"
        "    log.write(json.dumps({'cwd': os.getcwd(), 'argv': sys.argv[1:], 'env': env}) + '\\n')\n"
        "print('v1.0.0-20240116')  # deploy's result: the release name\n"
    )
    fake.chmod(0o755)
    workspace = tmp_path / "workspace"
    (workspace / "app").mkdir(parents=True, exist_ok=True)
    env = {"PATH": "/usr/bin:/bin", "GITHUB_WORKSPACE": str(workspace), "SR_BIN": str(fake),
           "SR_TOOL_VERSION": "9.8.7", "RUNNER_TEMP": str(tmp_path)}
    action_inputs = yaml.safe_load(ACTION.read_text())["inputs"]
    for variable, name in deploy_step_env_names().items():
        env[variable] = inputs.get(name, action_inputs[name]["default"])
    env.update(extra_env or {})
    result = subprocess.run(["bash", "-c", deploy_script()], env=env, capture_output=True, text=True, cwd=tmp_path)
    result.calls = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []  # type: ignore[attr-defined]
    return result


def recorded(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The deploy call (the last one)."""
    return result.calls[-1]  # type: ignore[attr-defined,no-any-return]


def test_every_action_release_input_is_accepted() -> None:
    action = yaml.safe_load(ACTION.read_text())
    assert ACTION_RELEASE_INPUTS <= set(action["inputs"])


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
        deploy_url="https://ci/7", dry_run="1", ignore_empty="true", disable_telemetry="1",
    )
    assert result.returncode == 0, result.stderr
    call = recorded(result)
    assert call["argv"] == [
        "deploy", "--environment", "prod $(touch pwned)", "--release", "1.0.0",
        "--release-prefix", "shop@", "--project", "web", "--project", "*", "--project", "worker",
        "--project", "api", "--url", "http://127.0.0.1:9", "--org", "acme",
        "--env-key", "RELEASE", "--env-key", "SENTRY_RELEASE",
        "--commits", "local", "--ignore-missing", "--no-finalize", "--started-at", "1700000000",
        "--env-file", ".env", "--deploy-name", "run 7", "--deploy-url", "https://ci/7", "--dry-run",
    ]
    assert call["cwd"] == str(tmp_path / "workspace" / "app")
    assert not (tmp_path / "pwned").exists()


def test_version_prefix_is_release_prefix(tmp_path: Path) -> None:
    result = run_deploy_step(tmp_path, environment="production", version_prefix="shop@")
    assert result.returncode == 0, result.stderr
    assert recorded(result)["argv"][3:5] == ["--release-prefix", "shop@"]
    # release_prefix wins when both are given
    (tmp_path / "both").mkdir()
    both = run_deploy_step(tmp_path / "both", environment="production", version_prefix="a@", release_prefix="b@")
    assert recorded(both)["argv"][3:5] == ["--release-prefix", "b@"]


def test_manual_set_commits_sends_the_range_with_the_deploy(tmp_path: Path) -> None:
    result = run_deploy_step(
        tmp_path, environment="production", set_commits="Manual",
        repo="acme/shop", commit="b" * 40, previous_commit="a" * 40, projects="web", release="1.0",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [deploy] = result.calls  # type: ignore[attr-defined]
    assert deploy["argv"] == ["deploy", "--environment", "production", "--release", "1.0", "--project", "web",
                              "--commit", f"acme/shop@{'a' * 40}..{'b' * 40}", "--finalize"]


def test_manual_set_commits_without_previous_commit_sends_one_sha(tmp_path: Path) -> None:
    result = run_deploy_step(tmp_path, set_commits="manual", repo="acme/shop", commit="c" * 40, dry_run="true")
    assert result.returncode == 0, result.stderr
    argv = recorded(result)["argv"]
    assert argv[argv.index("--commit") + 1] == f"acme/shop@{'c' * 40}" and "--dry-run" in argv


@pytest.mark.parametrize("inputs, message", [
    ({"finalize": "maybe"}, "input finalize is not a boolean: 'maybe'"),
    ({"dry_run": "yes please"}, "input dry_run is not a boolean"),
    ({"ignore_empty": "sometimes"}, "input ignore_empty is not a boolean"),
    ({"disable_safe_directory": "no"}, "input disable_safe_directory is not a boolean"),
    ({"set_commits": "sometimes"}, "set_commits must be auto, local, manual or skip, not 'sometimes'"),
    ({"set_commits": "manual", "commit": "abc"}, "set_commits: manual needs the repo and commit inputs"),
    ({"set_commits": "manual", "repo": "acme/shop"}, "set_commits: manual needs the repo and commit inputs"),
])
def test_action_rejects_bad_inputs(tmp_path: Path, inputs: dict[str, str], message: str) -> None:
    result = run_deploy_step(tmp_path, environment="production", **inputs)
    assert result.returncode == 2
    assert f"::error title=sentry-release::{message}" in result.stdout
    assert result.calls == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("name, value", [
    ("sourcemaps", "./dist"), ("inject", "true"), ("dist", "web"), ("url_prefix", "~/static"),
    ("strip_common_prefix", "false"),
])
def test_source_map_inputs_are_refused_with_what_to_run(tmp_path: Path, name: str, value: str) -> None:
    result = run_deploy_step(tmp_path, environment="production", **{name: value})
    assert result.returncode == 2
    [error] = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert f"(inputs: {name})" in error
    assert "sentry-cli sourcemaps inject" in error and "sentry-cli sourcemaps upload" in error
    assert result.calls == []  # type: ignore[attr-defined]


def test_workspace_is_a_safe_directory_for_the_tool_only(tmp_path: Path) -> None:
    result = run_deploy_step(tmp_path, {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.pager",
                                        "GIT_CONFIG_VALUE_0": "cat"},
                             environment="production", working_directory="app")
    assert result.returncode == 0, result.stderr
    env = recorded(result)["env"]
    workspace = tmp_path / "workspace"
    # the job's own command-scope settings are kept; ours come after them
    assert env == {
        "GIT_CONFIG_COUNT": "3", "GIT_CONFIG_KEY_0": "core.pager", "GIT_CONFIG_VALUE_0": "cat",
        "GIT_CONFIG_KEY_1": "safe.directory", "GIT_CONFIG_VALUE_1": str(workspace),
        "GIT_CONFIG_KEY_2": "safe.directory", "GIT_CONFIG_VALUE_2": str(workspace / "app"),
        "SENTRY_PIPELINE": "sentry-release-action/9.8.7",
    }


def test_disable_safe_directory_leaves_git_config_alone(tmp_path: Path) -> None:
    result = run_deploy_step(tmp_path, {"SENTRY_PIPELINE": "my-ci/1"}, environment="production",
                             disable_safe_directory="true")
    assert result.returncode == 0, result.stderr
    assert recorded(result)["env"] == {"SENTRY_PIPELINE": "my-ci/1"}


def test_safe_directory_lets_git_read_a_repository_owned_by_another_user(tmp_path: Path) -> None:
    """The settings the step exports, applied to a real git on a repository of another owner."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give the repository to another user")
    repo = GitRepo.init(tmp_path / "workspace")
    repo.commit("init", {"README.md": "x\n"})
    subprocess.run(["chown", "-R", "65534:65534", str(repo.path)], check=True)
    result = run_deploy_step(tmp_path, environment="production")
    env = {**os.environ, **recorded(result)["env"]}
    seen = subprocess.run(["git", "-C", str(repo.path), "rev-parse", "HEAD"], env=env, capture_output=True, text=True)
    assert seen.returncode == 0, seen.stderr
    refused = subprocess.run(["git", "-C", str(repo.path), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert "dubious ownership" in refused.stderr


def test_dry_run_gives_the_release_it_would_create_as_output(tmp_path: Path) -> None:
    output = tmp_path / "github-output"
    result = run_deploy_step(tmp_path, {"GITHUB_OUTPUT": str(output)}, environment="production", dry_run="true")
    assert result.returncode == 0, result.stderr
    assert output.read_text() == "release=v1.0.0-20240116\n"
    assert "v1.0.0-20240116" in result.stdout.splitlines(), "the name is still shown in the log"


# --- the watch step (issue 14) -------------------------------------------------------------------

def printed_call(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The call the watch step's stand-in CLI printed."""
    line = next(line for line in result.stdout.splitlines() if line.startswith("ARGS="))
    return json.loads(line[len("ARGS="):])  # type: ignore[no-any-return]


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
    call = printed_call(result)
    assert call["argv"] == ["watch", "--release", "v1.2.0-20240116", "--for", "10m",
                            "--environment", "production", "--project", "web", "--project", "worker",
                            "--max-new-issues", "0", "--min-crash-free", "99.5"]
    assert call["cwd"] == str(tmp_path / "workspace" / "app")


def test_watch_step_leaves_defaults_to_the_tool_and_skips_dry_runs(tmp_path: Path) -> None:
    assert printed_call(run_watch_step(tmp_path, release="v1", watch="90s"))["argv"] == [
        "watch", "--release", "v1", "--for", "90s"]
    skipped = run_watch_step(tmp_path, release="v1", watch="90s", dry_run="TRUE")
    assert skipped.returncode == 0 and "ARGS=" not in skipped.stdout and "watch is skipped" in skipped.stdout
