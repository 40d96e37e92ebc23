"""`sentry-release check` against a real Sentry server (issues 7 and 13).

One fresh project per environment (production, staging) per module, each with its real DSN read
from the server's keys endpoint and its own `[tool.sentry-release.environments.<env>]` section. A
real `sentry-release deploy -e production` records the release and writes RELEASE into the
app's .env; every test then runs the checklist with its own copy of that .env.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import httpx
import pytest

from gitrepo import GitRepo
from readers import READERS, read_as

from .harness import (
    Project,
    SentryApi,
    SentryServer,
    cli_command,
    cli_env,
    create_project,
    delete_project,
    run_cli,
)

pytestmark = pytest.mark.e2e

REMOTE = "git@github.com:acme/shop.git"
DAY = "20240116"
# What the autouse clean_environment fixture removes; a module fixture runs before it.
_HOST_PREFIXES = ("SENTRY_", "GITHUB_", "CI_", "RUNNER_")
_HOST_NAMES = ("GITLAB_CI", "CI", "GITHUB_ACTIONS", "RELEASE", "ENVIRONMENT", "SENTRY_DSN")


@dataclass(frozen=True)
class DeployedApp:
    project: Project          # production's
    repo: GitRepo
    release: str
    dsn: str                  # production's project's DSN, from the keys endpoint
    good_env: str             # the .env text after the deploy wrote RELEASE back
    staging: Project
    staging_dsn: str


def _host_free_env() -> Dict[str, str]:
    return {name: value for name, value in os.environ.items()
            if not name.startswith(_HOST_PREFIXES) and name not in _HOST_NAMES}


def project_dsn(api: SentryApi, project: Project) -> str:
    keys = api.get_json(f"projects/{project.org}/{project.slug}/keys/")
    active = [key for key in keys if key.get("isActive")]
    assert active, f"project {project.slug} has no active client key: {keys}"
    return active[0]["dsn"]["public"]


@pytest.fixture(scope="module")
def app(real_sentry: SentryServer, sentry_api: SentryApi,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployedApp]:
    project = create_project(sentry_api, real_sentry.org, real_sentry.team)
    staging = create_project(sentry_api, real_sentry.org, real_sentry.team)
    try:
        dsn = project_dsn(sentry_api, project)
        staging_dsn = project_dsn(sentry_api, staging)
        repo = GitRepo.init(tmp_path_factory.mktemp("check") / "shop")
        repo.git("remote", "add", "origin", REMOTE)
        sections = (f'[tool.sentry-release.environments.production]\nprojects = ["{project.slug}"]\n'
                    f'[tool.sentry-release.environments.staging]\nprojects = ["{staging.slug}"]\n')
        repo.commit("Add the shop app", {"app.py": "print('shop')\n", "pyproject.toml": sections},
                    date="2024-01-15T09:00:00+00:00")
        repo.tag(f"v{project.version(0)}")
        repo.commit("Fix the banner", {"app.py": "print('shop!')\n"}, date="2024-01-16T10:00:00+00:00")
        (repo.path / ".env").write_text(
            "# app settings\n"
            f"SENTRY_DSN={dsn}\n"
            "ENVIRONMENT=production\n"
            "SENTRY_TRACES_SAMPLE_RATE=0.1\n"
            "SENTRY_SAMPLE_RATE=0.1\n"
            "DEBUG=False\n"
            "RELEASE=old\n"
        )
        result = subprocess.run(
            [*cli_command(), "deploy", "-e", "production", "--env-file", ".env", "--json"],
            cwd=repo.path, env={**_host_free_env(), **cli_env(real_sentry, project)},
            capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"deploy: exit {result.returncode}\n{result.stderr}\n{result.stdout}"
        release = json.loads(result.stdout)["release"]
        assert release == f"v{project.version(0)}-{DAY}"
        good_env = (repo.path / ".env").read_text()
        assert f"\nRELEASE={release}\n" in good_env
        yield DeployedApp(project, repo, release, dsn, good_env, staging, staging_dsn)
    finally:
        delete_project(sentry_api, project)
        delete_project(sentry_api, staging)


def check(app: DeployedApp, server: SentryServer, env_file: Path, *args: str,
          token: Optional[str] = None, by_section: bool = False) -> subprocess.CompletedProcess:
    """`by_section`: the projects come from the environment's pyproject section, not SENTRY_PROJECT."""
    env = cli_env(server, app.project, token)
    if by_section:
        env["SENTRY_PROJECT"] = ""   # an empty variable counts as unset
    result = run_cli(["check", "--env-file", str(env_file), *args], cwd=app.repo.path, env=env)
    text = result.stdout + result.stderr
    assert "Traceback" not in text
    for secret in {server.token, server.ro_token, token} - {None}:
        assert secret not in text, "a token leaked into the output"
    return result


def env_file_with(app: DeployedApp, tmp_path: Path, **overrides: str) -> Path:
    """The deployed .env with some keys replaced, as a file of its own."""
    lines = []
    for line in app.good_env.splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={overrides[key]}" if key in overrides else line)
    lines += [f"{key}={value}" for key, value in overrides.items() if f"\n{key}=" not in app.good_env]
    path = tmp_path / "app.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def items_of(result: subprocess.CompletedProcess) -> Dict[str, Dict[str, Any]]:
    return {item["key"]: item for item in json.loads(result.stdout)["checks"]}


def describe(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"


# ---- a good configuration ---------------------------------------------------------------------

def test_good_configuration_passes(tmp_path: Path, real_sentry: SentryServer, app: DeployedApp) -> None:
    env_file = env_file_with(app, tmp_path)
    result = check(app, real_sentry, env_file, "--json")
    assert result.returncode == 0, describe(result)
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["failures"] == 0, describe(result)
    assert data["release"] == app.release and data["environment"] == "production"
    assert data["test_event_id"] is None
    items = {item["key"]: item for item in data["checks"]}
    not_ok = {key: item["message"] for key, item in items.items() if item["status"] != "ok"}
    assert not_ok == {}, describe(result)
    assert "user auth token" in items["token"]["message"]
    assert "project:releases" in items["token"]["message"]
    assert f"{app.project.slug} (id {app.project.id}) reachable" == items["projects"]["message"]
    assert "commits will come from local git history" in items["repository"]["message"]
    assert f"project id {app.project.id}" in items["dsn"]["message"]
    assert items["release"]["message"].endswith("is this checkout's release")
    assert items["release_exists"]["message"] == \
        f"release {app.release} exists for {app.project.slug}"

    human = check(app, real_sentry, env_file)
    assert human.returncode == 0, describe(human)
    assert "check passed: 0 failure(s), 0 warning(s)" in human.stdout
    assert "test event id" not in human.stdout


# ---- what must fail, each with a one-line fix ----------------------------------------------------

def assert_fails_with_one_line_fix(app: DeployedApp, server: SentryServer, env_file: Path, key: str,
                                   words: str, token: Optional[str] = None) -> Dict[str, Any]:
    result = check(app, server, env_file, "--json", token=token)
    assert result.returncode == 1, describe(result)
    item = items_of(result)[key]
    assert item["status"] == "failure", describe(result)
    assert words in item["message"], item
    assert item["fix"] and "\n" not in item["fix"], item
    human = check(app, server, env_file, token=token)
    assert human.returncode == 1, describe(human)
    lines = human.stdout.splitlines()
    failed = [i for i, line in enumerate(lines)
              if line.lstrip().startswith("FAIL") and item["title"] in line]
    assert failed, describe(human)
    assert lines[failed[0] + 1].strip() == f"fix: {item['fix']}"
    assert re.search(r"check failed: [1-9]\d* failure\(s\)", human.stdout), describe(human)
    return item


def test_read_only_token_fails_naming_project_releases(
        tmp_path: Path, real_sentry: SentryServer, app: DeployedApp) -> None:
    item = assert_fails_with_one_line_fix(app, real_sentry, env_file_with(app, tmp_path), "token",
                                          "project:releases", token=real_sentry.ro_token)
    assert "project:releases" in item["fix"]
    assert "user auth token" in item["message"]


@pytest.mark.parametrize(("key", "value", "item", "words"), [
    ("SENTRY_DSN", "http://{public}@{host}/not-a-number", "dsn", "project id"),
    ("SENTRY_SAMPLE_RATE", "1.5", "sentry_sample_rate", "outside [0, 1]"),
    ("ENVIRONMENT", "bad/env", "environment", "'/'"),
], ids=["malformed-dsn", "sample-rate-1.5", "environment-bad/env"])
def test_bad_value_fails_with_a_one_line_fix(
        tmp_path: Path, real_sentry: SentryServer, app: DeployedApp,
        key: str, value: str, item: str, words: str) -> None:
    public, host = app.dsn.split("//", 1)[1].split("/", 1)[0].split("@", 1)
    env_file = env_file_with(app, tmp_path, **{key: value.format(public=public, host=host)})
    assert_fails_with_one_line_fix(app, real_sentry, env_file, item, words)


def test_release_different_from_sentry_fails(
        tmp_path: Path, real_sentry: SentryServer, app: DeployedApp) -> None:
    other = f"v{app.project.version(9)}-{DAY}"
    env_file = env_file_with(app, tmp_path, RELEASE=other)
    item = assert_fails_with_one_line_fix(app, real_sentry, env_file, "release", app.release)
    assert f"sentry-release export --env-file {env_file}" in item["fix"]
    exists = items_of(check(app, real_sentry, env_file, "--json"))["release_exists"]
    assert exists["status"] == "failure"
    assert f"release {other} (the app's RELEASE) does not exist" in exists["message"]


# ---- the test event --------------------------------------------------------------------------
#
# Sentry 23.7.1's web process has no ingest endpoint: /api/<project id>/store/ and /envelope/
# are served by Relay only, and this server runs without Relay (SENTRY_USE_RELAY = False in
# scripts/real-sentry/sentry.conf.py; sentry/web/urls.py 23.7.1 routes neither path). A POST
# there falls through to the web UI's catch-all view, which answers 403 text/html
# "CSRF Verification Failed". So the envelope cannot be accepted here, let alone read back
# (Snuba is a zero-row stub as well). The tests below record exactly that answer and how the
# CLI reports it; the one that asks for the documented success stays strict-xfail, so it turns
# red (XPASS) as soon as the server can ingest (e.g. with Relay in front).

NO_INGEST = ("Sentry 23.7.1 without Relay has no envelope endpoint: POST /api/<id>/envelope/ is "
             "answered by the web UI's catch-all with 403 text/html 'CSRF Verification Failed', so "
             "`check --send-test-event` exits 1 with a test_event failure instead of printing an "
             "event id (environment limit of this e2e server, not a client error)")


def test_the_real_server_answers_the_envelope_with_a_csrf_page(
        real_sentry: SentryServer, app: DeployedApp) -> None:
    """What the server answers, sent the way the CLI sends it (auth header, envelope body)."""
    from sentry_release import dsn as dsn_mod

    dsn = dsn_mod.parse_dsn(app.dsn)
    event = dsn_mod.make_test_event(app.release, "production")
    response = httpx.post(dsn.envelope_url, content=dsn_mod.build_envelope(app.dsn, event),
                          headers={"Content-Type": "application/x-sentry-envelope",
                                   "X-Sentry-Auth": dsn.auth_header()}, timeout=30)
    # the DSN names the server's own URL prefix, which need not be the URL the tests were given
    assert dsn.envelope_url.endswith(f"/api/{app.project.id}/envelope/")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "CSRF Verification Failed" in response.text


def test_send_test_event_reports_the_refusal_as_a_failure(
        tmp_path: Path, real_sentry: SentryServer, app: DeployedApp) -> None:
    """Today's behaviour against this server: one failed item, everything else still ok."""
    from sentry_release import dsn as dsn_mod

    result = check(app, real_sentry, env_file_with(app, tmp_path), "--send-test-event", "--json")
    assert result.returncode == 1, describe(result)
    data = json.loads(result.stdout)
    assert data["failures"] == 1 and data["test_event_id"] is None
    items = items_of(result)
    assert {key for key, item in items.items() if item["status"] != "ok"} == {"test_event"}
    sent = items["test_event"]
    assert sent["status"] == "failure" and "HTTP 403" in sent["message"]
    assert f"{dsn_mod.parse_dsn(app.dsn).netloc}/{app.project.id}" in sent["message"]   # any server
    assert app.dsn.split("//", 1)[1].split("@", 1)[0] not in sent["message"], "the DSN key leaked"
    assert sent["fix"] and "\n" not in sent["fix"]


@pytest.mark.xfail(strict=True, reason=NO_INGEST)
def test_send_test_event_prints_the_event_id(
        tmp_path: Path, real_sentry: SentryServer, app: DeployedApp) -> None:
    env_file = env_file_with(app, tmp_path)
    result = check(app, real_sentry, env_file, "--send-test-event", "--json")
    assert result.returncode == 0, describe(result)
    data = json.loads(result.stdout)
    event_id = data["test_event_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", event_id or ""), describe(result)
    sent = items_of(result)["test_event"]
    assert sent["status"] == "ok"
    assert f"event {event_id} sent to project {app.project.id}" in sent["message"]
    assert f"release {app.release}" in sent["message"] and "environment production" in sent["message"]

    human = check(app, real_sentry, env_file, "--send-test-event")
    assert human.returncode == 0, describe(human)
    printed = re.findall(r"^test event id: ([0-9a-f]{32})$", human.stdout, re.M)
    assert len(printed) == 1 and printed[0] != event_id, describe(human)


def test_a_refused_test_event_is_reported_on_one_line_without_html(
        tmp_path: Path, real_sentry: SentryServer, app: DeployedApp) -> None:
    result = check(app, real_sentry, env_file_with(app, tmp_path), "--send-test-event", "--json")
    assert result.returncode == 1, describe(result)
    message = items_of(result)["test_event"]["message"]
    assert "\n" not in message, message
    assert "<" not in message and "DOCTYPE" not in message, message
    human = check(app, real_sentry, env_file_with(app, tmp_path), "--send-test-event")
    [line] = [line for line in human.stdout.splitlines() if "test event" in line]
    assert "HTTP 403" in line, human.stdout


# ---- issue 13: setups whose error reporting is broken never pass ----------------------------------

def test_a_key_the_project_does_not_have_fails_and_fix_swaps_in_the_real_dsn(
        tmp_path: Path, real_sentry: SentryServer, app: DeployedApp) -> None:
    host = app.dsn.split("@", 1)[1]
    env_file = env_file_with(app, tmp_path, SENTRY_DSN=f"http://{'0' * 32}@{host}")
    item = assert_fails_with_one_line_fix(app, real_sentry, env_file, "dsn_key",
                                          f"not a client key of {app.project.slug}")
    assert "--fix" in item["fix"]
    fixed = check(app, real_sentry, env_file, "--fix", "--json")
    assert fixed.returncode == 0, describe(fixed)
    assert f"SENTRY_DSN={app.dsn}\n" in env_file.read_text()
    assert items_of(fixed)["dsn_key"]["status"] == "ok"


def test_a_project_id_that_does_not_exist_fails(tmp_path: Path, real_sentry: SentryServer, app: DeployedApp) -> None:
    public, host = app.dsn.split("//", 1)[1].split("/", 1)[0].split("@", 1)
    env_file = env_file_with(app, tmp_path, SENTRY_DSN=f"http://{public}@{host}/987654321")
    item = assert_fails_with_one_line_fix(app, real_sentry, env_file, "dsn_project",
                                          f"project id 987654321, which does not exist in {app.project.org}")
    assert f"production's project is {app.project.slug} (id {app.project.id})" in item["message"]


def test_the_production_dsn_in_the_staging_env_fails_naming_both_projects(
        tmp_path: Path, real_sentry: SentryServer, app: DeployedApp) -> None:
    env_file = env_file_with(app, tmp_path, ENVIRONMENT="staging")
    result = check(app, real_sentry, env_file, "-e", "staging", "--json", by_section=True)
    assert result.returncode == 1, describe(result)
    item = items_of(result)["dsn_project"]
    assert item["status"] == "failure", describe(result)
    assert f"sends to {app.project.slug} (id {app.project.id})" in item["message"]
    assert f"staging's project is {app.staging.slug} (id {app.staging.id})" in item["message"]

    fixed = check(app, real_sentry, env_file, "-e", "staging", "--fix", "--json", by_section=True)
    assert f"SENTRY_DSN={app.staging_dsn}\n" in env_file.read_text(), describe(fixed)
    items = items_of(fixed)
    assert items["dsn_project"]["status"] == "ok" and items["dsn_key"]["status"] == "ok", describe(fixed)


def test_debug_true_in_production_fails(tmp_path: Path, real_sentry: SentryServer, app: DeployedApp) -> None:
    item = assert_fails_with_one_line_fix(app, real_sentry, env_file_with(app, tmp_path, DEBUG="True"), "debug",
                                          "only when DEBUG=False")
    assert item["fix"] == "set DEBUG=False in the production .env"


def test_the_guides_inline_comment_fails_and_fix_makes_every_reader_read_it(
        tmp_path: Path, real_sentry: SentryServer, app: DeployedApp, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = env_file_with(app, tmp_path, SENTRY_TRACES_SAMPLE_RATE="0.1  # 追踪 10% 的请求")
    assert isinstance(read_as("python-decouple", env_file, "SENTRY_TRACES_SAMPLE_RATE", monkeypatch, float),
                      ValueError)
    assert read_as("django-environ", env_file, "SENTRY_TRACES_SAMPLE_RATE", monkeypatch, float) == 0.11
    item = assert_fails_with_one_line_fix(app, real_sentry, env_file, "env_file:SENTRY_TRACES_SAMPLE_RATE",
                                          "python-decouple reads")
    assert "django-environ" in item["message"] and "move the comment to its own line" in item["fix"]

    fixed = check(app, real_sentry, env_file, "--fix", "--json")
    assert fixed.returncode == 0, describe(fixed)
    assert "# 追踪 10% 的请求\nSENTRY_TRACES_SAMPLE_RATE=0.1\n" in env_file.read_text()
    for reader in READERS:
        assert read_as(reader, env_file, "SENTRY_TRACES_SAMPLE_RATE", monkeypatch, float) == 0.1, reader


def test_a_token_that_cannot_read_client_keys_says_which_scope_would(
        tmp_path: Path, real_sentry: SentryServer, app: DeployedApp) -> None:
    result = check(app, real_sentry, env_file_with(app, tmp_path), "--json", token=real_sentry.ro_token)
    items = items_of(result)
    assert items["dsn_key"]["status"] == "warning", describe(result)
    assert "not verified" in items["dsn_key"]["message"] and "project:read" in items["dsn_key"]["message"]


def test_quiet_prints_only_failures_and_warnings(tmp_path: Path, real_sentry: SentryServer, app: DeployedApp) -> None:
    env_file = env_file_with(app, tmp_path, DEBUG="True", SENTRY_TRACES_SAMPLE_RATE="1.0")
    result = check(app, real_sentry, env_file, "-q")
    assert result.returncode == 1, describe(result)
    labels = [line.split()[0] for line in result.stdout.splitlines() if not line.strip().startswith("fix:")]
    assert labels == ["warning", "FAIL"], describe(result)
    assert check(app, real_sentry, env_file_with(app, tmp_path), "-q").stdout == ""


def test_a_disabled_key_fails(tmp_path: Path, real_sentry: SentryServer, sentry_api: SentryApi,
                              app: DeployedApp, e2e_project: Project) -> None:
    [key] = sentry_api.get_json(f"projects/{e2e_project.org}/{e2e_project.slug}/keys/")
    response = sentry_api.request("PUT", f"projects/{e2e_project.org}/{e2e_project.slug}/keys/{key['id']}/",
                                  json={"isActive": False})
    assert response.status_code == 200, response.text
    env_file = env_file_with(app, tmp_path, SENTRY_DSN=key["dsn"]["public"])
    result = run_cli(["check", "--env-file", str(env_file), "--json"], cwd=app.repo.path,
                     env=cli_env(real_sentry, e2e_project))
    assert result.returncode == 1, describe(result)
    item = items_of(result)["dsn_key"]
    assert item["status"] == "failure", describe(result)
    assert item["message"] == f"the DSN's key is disabled in {e2e_project.slug}: Sentry refuses the app's events"
