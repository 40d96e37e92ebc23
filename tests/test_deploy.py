"""`sentry-release deploy` end to end against the loopback Sentry emulator (issue 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clirun import Run, run_cli
from gitrepo import GitRepo

REMOTE = "git@github.com:acme/shop.git"


@pytest.fixture
def shop(repo: GitRepo) -> GitRepo:
    """A repository with a tag and three commits after it, remote acme/shop."""
    repo.commit("initial", {"app.py": "v0\n"}, date="2024-01-10T08:00:00+00:00")
    repo.tag("v1.0.0")
    repo.commit("add views", {"views.py": "views\n"}, date="2024-01-14T08:00:00+00:00")
    repo.commit("fix app", {"app.py": "v1\n"}, date="2024-01-15T08:00:00+00:00")
    repo.commit("drop views", {"views.py": None}, date="2024-01-16T10:00:00+00:00")
    repo.git("remote", "add", "origin", REMOTE)
    return repo


def deploy(repo: GitRepo, env: dict, *args: str) -> Run:
    return run_cli(["deploy", "-e", "production", "--json", *args], repo.path, env=env)


def test_first_deploy_with_local_history(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    result = deploy(shop, sentry_env, "--env-file", ".env")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["release"] == "v1.0.0-20240116"
    release = sentry_emulator.release("acme", "v1.0.0-20240116")
    assert release["dateReleased"] is not None
    commits = sentry_emulator.commits("acme", "v1.0.0-20240116")
    assert [c["id"] for c in commits][:3] == shop.git("rev-list", "HEAD", "-n", "3").split()
    assert len(sentry_emulator.deploys("acme", "v1.0.0-20240116")) == 1
    assert (shop.path / ".env").read_text() == "RELEASE=v1.0.0-20240116\n"
    # repos, production's releases and the create at once; then commits, deploy, finalize last
    methods = [(r.method, r.path.split("/api/0/")[-1]) for r in sentry_emulator.requests]
    assert set(methods[:3]) == {("GET", "organizations/acme/repos/"), ("GET", "projects/acme/shop/releases/"),
                                ("POST", "organizations/acme/releases/")}, methods
    assert methods[3:] == [
        ("PUT", "organizations/acme/releases/v1.0.0-20240116/"),
        ("POST", "organizations/acme/releases/v1.0.0-20240116/deploys/"),
        ("PUT", "organizations/acme/releases/v1.0.0-20240116/"),
    ], methods
    assert sentry_emulator.requests_to("POST", "/releases/")[0].json["ref"] == shop.head()
    assert "dateReleased" not in sentry_emulator.requests_to("PUT")[0].json
    assert sentry_emulator.requests_to("PUT")[1].json.keys() == {"dateReleased"}
    assert sentry_emulator.connection_count <= 3  # the three at once may each take a connection


def test_repository_integration_sends_refs_after_the_identity_check(shop: GitRepo, sentry_emulator,
                                                                     sentry_env) -> None:
    sentry_emulator.add_repo("acme", "acme/shop", url="https://github.com/acme/shop")
    result = deploy(shop, sentry_env)
    assert result.code == 0, result.stderr
    create = sentry_emulator.requests_to("POST", "/releases/")[0].json
    assert "refs" not in create and "dateReleased" not in create
    refs = sentry_emulator.requests_to("PUT")[0].json
    assert refs == {"refs": [{"repository": "acme/shop", "commit": shop.head(), "previousCommit": None}]}
    assert len(sentry_emulator.requests) == 6
    assert json.loads(result.stdout)["commits_source"].startswith("repository integration 'acme/shop'")


def test_unknown_provider_repo_falls_back_to_local_and_says_why(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    sentry_emulator.add_repo("acme", "acme/shop", provider=None, url=None)
    result = deploy(shop, sentry_env)
    assert result.code == 0, result.stderr
    assert "sending commits from local git history" in result.stderr
    assert all(c["repository"] == "acme/shop" for c in sentry_emulator.requests_to("PUT")[0].json["commits"])


def test_rerun_creates_no_second_deploy(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    env = {**sentry_env, "GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "777", "GITHUB_REPOSITORY": "acme/shop"}
    first, second = deploy(shop, env), deploy(shop, env)
    assert first.code == second.code == 0, second.stderr
    deploys = sentry_emulator.deploys("acme", "v1.0.0-20240116")
    assert len(deploys) == 1 and deploys[0]["name"] == "github-777"
    assert "already is production's newest deploy (id " in second.stderr and "not adding another" in second.stderr
    assert json.loads(second.stdout)["deploy_id"] == json.loads(first.stdout)["deploy_id"]
    assert json.loads(second.stdout)["deploy_created"] is False


def test_local_rerun_without_ci_also_converges(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    for _ in range(2):
        assert deploy(shop, sentry_env).code == 0
    assert len(sentry_emulator.deploys("acme", "v1.0.0-20240116")) == 1
    assert len(sentry_emulator.commits("acme", "v1.0.0-20240116")) == 4


def test_second_release_holds_exactly_the_new_range(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    assert deploy(shop, sentry_env).code == 0
    previous_head = shop.head()
    shop.tag("v1.1.0")
    shop.commit("feature", {"feature.py": "f\n"}, date="2024-02-01T08:00:00+00:00")
    shop.commit("more", {"app.py": "v2\n"}, date="2024-02-02T08:00:00+00:00")
    result = deploy(shop, sentry_env)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["release"] == "v1.1.0-20240202"
    commits = sentry_emulator.commits("acme", "v1.1.0-20240202")
    assert [c["id"] for c in commits] == shop.git("rev-list", f"{previous_head}..HEAD").split()


def test_dry_run_changes_nothing(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    result = deploy(shop, sentry_env, "--dry-run", "--env-file", ".env")
    assert result.code == 0, result.stderr
    assert sentry_emulator.releases("acme") == []
    assert {r.method for r in sentry_emulator.requests} <= {"GET"}
    assert "POST /api/0/organizations/acme/releases/" in result.stderr
    assert not (shop.path / ".env").exists()
    assert sentry_env["SENTRY_AUTH_TOKEN"] not in result.output


def test_wrong_token(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    bad = "sntryu_" + "0" * 64
    result = deploy(shop, {**sentry_env, "SENTRY_AUTH_TOKEN": bad})
    assert result.code == 1
    assert "auth token" in result.stderr and "Traceback" not in result.stderr
    assert bad not in result.output


def test_token_without_releases_scope_names_it(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    result = deploy(shop, {**sentry_env, "SENTRY_AUTH_TOKEN": sentry_emulator.ro_token})
    assert result.code == 1
    assert "project:releases" in result.stderr
    assert sentry_emulator.ro_token not in result.output and "Traceback" not in result.stderr


def test_unknown_org_and_project(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    org = deploy(shop, {**sentry_env, "SENTRY_ORG": "nope"})
    assert org.code == 1 and "organization 'nope'" in org.stderr
    project = deploy(shop, {**sentry_env, "SENTRY_PROJECT": "ghost"})
    assert project.code == 1 and "project ghost" in project.stderr


def test_bad_environment_is_a_usage_error_before_any_request(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    result = run_cli(["deploy", "-e", "bad/env"], shop.path, env=sentry_env)
    assert result.code == 2 and "bad/env" in result.stderr
    assert sentry_emulator.requests == []


def test_wrapped_command_success_records_deploy_with_times(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    result = run_cli(["deploy", "-e", "production", "--env-file", ".env", "--",
                      "sh", "-c", 'grep -q "RELEASE=$SENTRY_RELEASE" .env'], shop.path, env=sentry_env)
    assert result.code == 0, result.stderr
    deploys = sentry_emulator.deploys("acme", "v1.0.0-20240116")
    assert len(deploys) == 1 and deploys[0]["dateStarted"] is not None
    assert sentry_emulator.release("acme", "v1.0.0-20240116")["dateReleased"] is not None


def test_wrapped_command_failure_passes_exit_code_and_records_nothing(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    result = run_cli(["deploy", "-e", "production", "--", "sh", "-c", "exit 7"], shop.path, env=sentry_env)
    assert result.code == 7
    assert sentry_emulator.deploys("acme", "v1.0.0-20240116") == []
    assert sentry_emulator.release("acme", "v1.0.0-20240116")["dateReleased"] is None


def test_github_actions_outputs_and_summary(shop: GitRepo, sentry_emulator, sentry_env, tmp_path: Path) -> None:
    files = {name: tmp_path / name for name in ("env", "output", "summary")}
    env = {**sentry_env, "GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "5", "GITHUB_ENV": str(files["env"]),
           "GITHUB_OUTPUT": str(files["output"]), "GITHUB_STEP_SUMMARY": str(files["summary"])}
    result = deploy(shop, env)
    assert result.code == 0, result.stderr
    output = files["output"].read_text()
    deploy_id = sentry_emulator.deploys("acme", "v1.0.0-20240116")[0]["id"]
    assert "release=v1.0.0-20240116\n" in output and f"deploy_id={deploy_id}\n" in output
    assert "commits=4\n" in output
    assert files["env"].read_text() == "RELEASE=v1.0.0-20240116\n"
    assert "v1.0.0-20240116" in files["summary"].read_text()


def test_per_environment_projects_from_pyproject(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    sentry_emulator.add_project("acme", "shop-prod")
    shop.write("pyproject.toml", '[tool.sentry-release.environments.production]\nprojects = ["shop-prod"]\n')
    env = {k: v for k, v in sentry_env.items() if k != "SENTRY_PROJECT"}
    result = deploy(shop, env)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["projects"] == ["shop-prod"]
    assert sentry_emulator.requests_to("POST", "/deploys/")[0].json["projects"] == ["shop-prod"]


# -- fault matrix ------------------------------------------------------------------------------

FAST_RETRIES = {"SENTRY_HTTP_MAX_RETRIES": "3", "SENTRY_HTTP_TIMEOUT": "2"}


def test_rate_limit_honours_retry_after(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    sentry_emulator.faults.add(method="POST", path=r"/releases/$", retry_after=1, times=1)
    result = deploy(shop, {**sentry_env, **FAST_RETRIES, "SENTRY_HTTP_TIMEOUT": "5"}, "-v")
    assert result.code == 0, result.stderr
    posts = sentry_emulator.requests_to("POST", "/releases/")
    assert posts[1].started - posts[0].started >= 0.95


def test_server_error_burst_then_success(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    sentry_emulator.faults.add(method="PUT", status=503, times=2)
    result = deploy(shop, {**sentry_env, **FAST_RETRIES})
    assert result.code == 0, result.stderr
    assert len(sentry_emulator.commits("acme", "v1.0.0-20240116")) == 4


def test_dropped_connection_is_retried(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    sentry_emulator.faults.add(method="GET", path="previous-with-commits", drop=True, times=1)
    result = deploy(shop, {**sentry_env, **FAST_RETRIES})
    assert result.code == 0, result.stderr


def test_stall_past_timeout_is_bounded_and_clear(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    sentry_emulator.faults.add(method="POST", path=r"/releases/$", stall=3, times=None)
    result = deploy(shop, {**sentry_env, "SENTRY_HTTP_MAX_RETRIES": "1", "SENTRY_HTTP_TIMEOUT": "0.5"})
    assert result.code == 1
    assert "timed out" in result.stderr or "read timeout" in result.stderr
    assert "127.0.0.1" in result.stderr
    assert len(result.stderr.strip().splitlines()[-1]) < 300


def test_lost_deploy_answer_does_not_duplicate(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    # the server records the deploy, then the connection dies before the answer arrives
    sentry_emulator.faults.add(method="POST", path="/deploys/", drop=True, process=True, times=1)
    result = deploy(shop, {**sentry_env, **FAST_RETRIES})
    assert result.code == 0, result.stderr
    assert len(sentry_emulator.deploys("acme", "v1.0.0-20240116")) == 1


def test_500_mid_sequence_then_rerun_converges(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    sentry_emulator.faults.add(method="PUT", status=500, times=None)
    failed = deploy(shop, {**sentry_env, "SENTRY_HTTP_MAX_RETRIES": "1"})
    assert failed.code == 1 and "HTTP 500" in failed.stderr
    assert sentry_emulator.deploys("acme", "v1.0.0-20240116") == []
    sentry_emulator.faults.clear() if hasattr(sentry_emulator.faults, "clear") else None
    again = deploy(shop, sentry_env)
    assert again.code == 0, again.stderr
    assert len(sentry_emulator.commits("acme", "v1.0.0-20240116")) == 4
    assert len(sentry_emulator.deploys("acme", "v1.0.0-20240116")) == 1
    assert sentry_emulator.release("acme", "v1.0.0-20240116")["dateReleased"] is not None


def test_commits_being_processed_409_is_retried(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    sentry_emulator.faults.add(method="PUT", status=409, times=1)
    result = deploy(shop, {**sentry_env, **FAST_RETRIES})
    assert result.code == 0, result.stderr


def test_verbose_shows_each_request_without_the_token(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    result = deploy(shop, sentry_env, "-v")
    assert "POST /api/0/organizations/acme/releases/ -> 201" in result.stderr
    assert sentry_env["SENTRY_AUTH_TOKEN"] not in result.output


def test_dry_run_against_an_unreachable_server_still_plans(shop: GitRepo, sentry_env) -> None:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = deploy(shop, {**sentry_env, "SENTRY_URL": f"http://127.0.0.1:{port}"}, "--dry-run")
    assert result.code == 0, result.stderr
    assert "planning without the server's data" in result.stderr
    assert "POST /api/0/organizations/acme/releases/" in result.stderr


def test_latency_below_the_timeout_just_works(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    sentry_emulator.latency = 0.3
    result = deploy(shop, {**sentry_env, "SENTRY_HTTP_TIMEOUT": "2"})
    assert result.code == 0, result.stderr
    assert all(r.status and r.status < 300 for r in sentry_emulator.requests)


def test_connection_reset_is_retried(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    sentry_emulator.faults.add(method="POST", path=r"/releases/$", reset=True, times=1)
    result = deploy(shop, {**sentry_env, **FAST_RETRIES})
    assert result.code == 0, result.stderr
    assert len(sentry_emulator.deploys("acme", "v1.0.0-20240116")) == 1


def test_deploy_recorded_behind_a_502_is_found_not_doubled(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    # the server records the deploy but answers 502: the look-before-resend finds it
    sentry_emulator.faults.add(method="POST", path="/deploys/", status=502, process=True, times=None)
    first = deploy(shop, {**sentry_env, "SENTRY_HTTP_MAX_RETRIES": "2"})
    assert first.code == 0, first.stderr
    assert len(sentry_emulator.requests_to("POST", "/deploys/")) == 1
    assert len(sentry_emulator.deploys("acme", "v1.0.0-20240116")) == 1
    sentry_emulator.faults.clear()
    again = deploy(shop, sentry_env)
    assert again.code == 0, again.stderr
    assert len(sentry_emulator.deploys("acme", "v1.0.0-20240116")) == 1


def test_a_stray_word_is_not_run_as_a_command(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    result = run_cli(["deploy", "production"], shop.path, env=sentry_env)
    assert result.code == 2 and "-e production" in result.stderr
    assert sentry_emulator.requests == []


def test_slow_commit_storage_is_waited_for_not_resent(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    # Sentry stores the commits but answers after the read timeout (a big range on a real server)
    sentry_emulator.faults.add(method="PUT", stall=3, process=True, times=1)
    result = deploy(shop, {**sentry_env, "SENTRY_HTTP_TIMEOUT": "1"})
    assert result.code == 0, result.stderr
    assert "watching the release" in result.stderr
    assert len([put for put in sentry_emulator.requests_to("PUT") if "commits" in put.json]) == 1
    assert len(sentry_emulator.commits("acme", "v1.0.0-20240116")) == 4
    assert len(sentry_emulator.deploys("acme", "v1.0.0-20240116")) == 1


def test_a_name_taken_by_another_commit_fails_before_anything_else_changes(shop: GitRepo, sentry_emulator,
                                                                           sentry_env) -> None:
    assert deploy(shop, sentry_env).code == 0
    taken = shop.head()
    # another line of history derives the same name: same tag, same commit date
    shop.git("checkout", "-q", "-b", "stable", "HEAD~1")
    shop.commit("stable fix", {"fix.py": "x\n"}, date="2024-01-16T12:00:00+00:00")
    requests_before = len(sentry_emulator.requests)
    result = deploy(shop, sentry_env)
    assert result.code == 1
    line = result.stderr.strip().splitlines()[-1]
    assert taken[:12] in line and shop.head()[:12] in line and "{short_sha}" in line and "tag" in line
    after = sentry_emulator.requests[requests_before:]
    assert [r.method for r in after if r.method != "GET"] == ["POST"]  # the create that told us, nothing more
    assert len(sentry_emulator.deploys("acme", "v1.0.0-20240116")) == 1
    assert [c["id"] for c in sentry_emulator.commits("acme", "v1.0.0-20240116")][0] == taken


def test_an_explicit_release_of_other_code_warns_and_counts_for_head(shop: GitRepo, sentry_emulator,
                                                                     sentry_env) -> None:
    assert deploy(shop, sentry_env, "--release", "shop-1").code == 0
    shop.commit("more", {"more.py": "x\n"}, date="2024-01-17T10:00:00+00:00")
    result = deploy(shop, sentry_env, "--release", "shop-1")
    assert result.code == 0, result.stderr
    assert "warning: release shop-1" in result.stderr and "computed for this checkout" in result.stderr
    assert shop.head() in [c["id"] for c in sentry_emulator.commits("acme", "shop-1")]


def test_a_deploy_leaves_httpx_command_line_tool_unloaded(shop: GitRepo, sentry_emulator, sentry_env) -> None:
    """httpx's package loads its own CLI, and with it rich and pygments when installed (as here, via twine);
    the deploy never uses it, so its process must not pay for it."""
    pytest.importorskip("rich")
    result = run_cli(["deploy", "-e", "production"], shop.path, env={**sentry_env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert result.code == 0, result.stderr
    loaded = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "httpx" in loaded and "httpcore" in loaded  # the deploy really went through httpx
    assert not loaded & {"rich", "pygments"}, sorted(loaded & {"rich", "pygments"})
    assert len(sentry_emulator.deploys("acme", "v1.0.0-20240116")) == 1
