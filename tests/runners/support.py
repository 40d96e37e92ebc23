"""Shared pieces of the runner tests: finding act and gitlab-ci-local, a wheelhouse built from
the checkout, clean subprocess environments, and GitLab's dotenv rules."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Mapping

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STUBS = HERE / "stubs"
INSTALL_HINT = "run scripts/install-runners.sh (CI installs the runners)"

# What a copy of the action holds on a runner: the repository without .git. Only the parts a
# pip install and the runner need are copied, so the copy is quick and build/ never lands in ROOT.
_SOURCE_PARTS = ("pyproject.toml", "setup.cfg", "README.md", "LICENSE", "action.yml", "sentry_release")


def require_tool(name: str) -> str:
    """The tool's path, looked up next to this Python first (where the install script puts it)."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    if found is None:
        pytest.fail(f"{name} is not installed: {INSTALL_HINT}", pytrace=False)
    return found


def copy_source(dest: Path) -> Path:
    """A git-less copy of the checkout, as GitHub delivers an action."""
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for part in _SOURCE_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=ignore)
        elif src.is_file():
            shutil.copy2(src, dest / part)
    return dest


def build_wheelhouse(dest: Path, workdir: Path) -> Path:
    """Wheels of the checkout, its dependencies and the build backend, so that jobs install
    with PIP_NO_INDEX and never pick up a same-named package from an index."""
    source = copy_source(workdir / "wheel-source")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "--wheel-dir", str(dest), str(source), *build_requires()],
        check=True, capture_output=True, text=True,
    )
    return dest


def build_requires() -> list[str]:
    """pyproject.toml's build-system requirements: what pip needs to build the Action's copy."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11: the package's own dependency
        import tomli as tomllib  # type: ignore[no-redef]

    return list(tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"])


def base_env(home: Path, **extra: str) -> dict[str, str]:
    """A small explicit environment: nothing of the host's Sentry, GitHub or GitLab settings."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    # The host's pip settings (certificates, timeouts) still apply; where packages come from
    # is decided by the caller.
    for name, value in os.environ.items():
        if name.startswith("PIP_") and name not in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_NO_INDEX"):
            env[name] = value
    env.update(extra)
    return env


def pip_offline_env(wheelhouse: Path) -> dict[str, str]:
    # A URL, not a path: gitlab-ci-local turns a variable that names an existing path into a file.
    return {"PIP_FIND_LINKS": wheelhouse.as_uri(), "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def run_timed(args: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 300
              ) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    result = subprocess.run(
        args, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    return result, time.monotonic() - start


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"


_DOTENV_KEY = re.compile(r"[A-Za-z0-9_]+")


def gitlab_dotenv_problems(data: bytes) -> list[str]:
    """What GitLab's dotenv report parser would reject or read differently (gitlab-ci-local is
    more lenient): KEY=value lines only, keys of [A-Za-z0-9_], no blank lines, no comments,
    no quotes or surrounding spaces in values, at most 5 KB."""
    problems = []
    if len(data) > 5 * 1024:
        problems.append(f"{len(data)} bytes, over GitLab's 5 KB limit")
    text = data.decode("utf-8")
    for number, line in enumerate(text.split("\n"), start=1):
        if line == "" and number == text.count("\n") + 1:
            continue  # the final newline
        key, sep, value = line.partition("=")
        if not line.strip():
            problems.append(f"line {number}: blank line")
        elif line.lstrip().startswith("#"):
            problems.append(f"line {number}: comment")
        elif not sep or not _DOTENV_KEY.fullmatch(key):
            problems.append(f"line {number}: not KEY=value with a key of [A-Za-z0-9_]: {line!r}")
        elif value != value.strip() or value[:1] in "\"'" or "\r" in value:
            problems.append(f"line {number}: quoted or padded value: {line!r}")
    return problems


def dotenv_values(data: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in data.decode("utf-8").splitlines() if "=" in line)


def job_lines(output: str, job: str) -> list[str]:
    """A job's own output lines from gitlab-ci-local's log (`job > text`)."""
    prefix = re.compile(rf"^{re.escape(job)}\s+>\s?(.*)$")
    lines = []
    for raw in output.splitlines():
        match = prefix.match(raw)
        if match:
            lines.append(match.group(1))
    return lines


def step_lines(output: str) -> list[str]:
    """Lines that steps printed in act's log (`[workflow/job]   | text`)."""
    return [line.split("| ", 1)[1] for line in output.splitlines() if "]   | " in line]


def fill(path: Path, replacements: Iterable[tuple[str, str]]) -> str:
    text = path.read_text()
    for old, new in replacements:
        assert old in text, f"{old!r} not in {path}"
        text = text.replace(old, new)
    return text


ACTION_REF = "sentry-release/sentry-release@v0.1.0"


def run_act(app: Path, workflow: str, tmp: Path, action: Path, secrets: Mapping[str, str],
            variables: Mapping[str, str], env: Mapping[str, str], wheels: Path,
            timeout: float = 300, extra_args: Iterable[str] = (), event: str = "push",
            ) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run one workflow of `app` under act, our action mapped from `action`, on the host."""
    act = require_tool("act")
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    secret_file = tmp / "secrets"
    secret_file.write_text("".join(f"{k}={v}\n" for k, v in secrets.items()))
    # Settings for the steps go in through act's env file, not act's own environment.
    env_file = tmp / "act.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in {**pip_offline_env(wheels), **env}.items()))
    args = [
        act, event, "-W", f".github/workflows/{workflow}",
        "-P", "ubuntu-latest=-self-hosted", "--no-cache-server",
        "--action-cache-path", str(tmp / "act-cache"),
        "--secret-file", str(secret_file), "--env-file", str(env_file),
        "--local-repository", f"actions/checkout@v4={STUBS / 'checkout'}",
        "--local-repository", f"actions/setup-python@v5={STUBS / 'setup-python'}",
        "--local-repository", f"actions/upload-artifact@v4={STUBS / 'upload-artifact'}",
        "--local-repository", f"{ACTION_REF}={action}",
    ]
    for name, value in variables.items():
        args += ["--var", f"{name}={value}"]
    args += list(extra_args)
    return run_timed(args, cwd=app, env=base_env(home), timeout=timeout)


# The project's own files that its CI (.github/workflows/ci.yml, .gitlab-ci.yml) works on.
PROJECT_PARTS = _SOURCE_PARTS + ("CHANGELOG.md", "templates", "scripts/release.py", ".github", ".gitlab-ci.yml")
PROJECT_DATE = "2024-03-01T12:00:00+00:00"


def make_project_repo(path: Path, remote: str) -> Path:
    """A clone of this project as its own CI sees it: its files in one commit at PROJECT_DATE,
    no tags (so the release name's version is pyproject.toml's), `origin` and origin/HEAD."""
    from gitrepo import GitRepo

    repo = GitRepo.init(path)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for part in PROJECT_PARTS:
        src, dest = ROOT / part, path / part
        if src.is_dir():
            shutil.copytree(src, dest, ignore=ignore)
        elif src.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "sentry-release",
             env={"GIT_AUTHOR_DATE": PROJECT_DATE, "GIT_COMMITTER_DATE": PROJECT_DATE})
    repo.git("remote", "add", "origin", remote)
    repo.git("update-ref", "refs/remotes/origin/main", "HEAD")
    repo.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    return path


# The documented pipelines include our files from a project; a test repo holds them itself.
TEMPLATE_INCLUDE = (
    "  - project: my-group/sentry-release\n    ref: v0.1.0\n    file: .gitlab-ci-template.yml\n",
    "  - local: .gitlab-ci-template.yml\n",
)
COMPONENT_INCLUDE = (
    "$CI_SERVER_FQDN/my-group/sentry-release/sentry-release@0.1.0",
    "$CI_SERVER_FQDN/$CI_PROJECT_PATH/sentry-release@$CI_COMMIT_SHA",
)
