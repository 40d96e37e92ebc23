"""The single-step commands: new, set-commits, finalize (sentry-cli's muscle memory)."""

from __future__ import annotations

from clirun import run_cli
from gitrepo import GitRepo


def make_repo(repo: GitRepo) -> GitRepo:
    repo.commit("init", {"VERSION": "1.0.0", "web/app.py": "a\n", "api/main.py": "m\n"}, date="2024-01-15T08:00:00+00:00")
    repo.commit("web change", {"web/app.py": "b\n"}, date="2024-01-16T08:00:00+00:00")
    repo.commit("api change", {"api/main.py": "n\n"}, date="2024-01-16T10:00:00+00:00")
    repo.git("remote", "add", "origin", "https://github.com/acme/shop.git")
    return repo


def test_new_is_idempotent(repo: GitRepo, sentry_emulator, sentry_env) -> None:
    make_repo(repo)
    first = run_cli(["new"], repo.path, env=sentry_env)
    again = run_cli(["new"], repo.path, env=sentry_env)
    assert first.code == again.code == 0, again.stderr
    assert [r.status for r in sentry_emulator.requests_to("POST")] == [201, 208]
    assert sentry_emulator.release("acme", "v1.0.0-20240116.2")["dateReleased"] is None


def test_finalize_sets_date_released(repo: GitRepo, sentry_emulator, sentry_env) -> None:
    make_repo(repo)
    run_cli(["new"], repo.path, env=sentry_env)
    result = run_cli(["finalize", "--released", "1705392000"], repo.path, env=sentry_env)
    assert result.code == 0, result.stderr
    assert sentry_emulator.release("acme", "v1.0.0-20240116.2")["dateReleased"].startswith("2024-01-16T08:00:00")


def test_finalize_unknown_release_says_so(repo: GitRepo, sentry_emulator, sentry_env) -> None:
    make_repo(repo)
    result = run_cli(["finalize", "--release", "never-created"], repo.path, env=sentry_env)
    assert result.code == 1 and "release 'never-created' does not exist" in result.stderr


def test_set_commits_local_with_path_filter(repo: GitRepo, sentry_emulator, sentry_env) -> None:
    make_repo(repo)
    result = run_cli(["set-commits", "--local", "--path", "web"], repo.path, env=sentry_env)
    assert result.code == 0, result.stderr
    messages = [c["message"] for c in sentry_emulator.requests_to("PUT")[0].json["commits"]]
    assert messages == ["web change", "init"]


def test_set_commits_explicit_range_and_clear(repo: GitRepo, sentry_emulator, sentry_env) -> None:
    make_repo(repo)
    sentry_emulator.add_repo("acme", "acme/shop", url="https://github.com/acme/shop")
    result = run_cli(["set-commits", "--commit", "acme/shop@aaaa..bbbb"], repo.path, env=sentry_env)
    assert result.code == 0, result.stderr
    put = sentry_emulator.requests_to("PUT")[0].json
    assert put["refs"] == [{"repository": "acme/shop", "commit": "bbbb", "previousCommit": "aaaa"}]
    cleared = run_cli(["set-commits", "--clear"], repo.path, env=sentry_env)
    assert cleared.code == 0, cleared.stderr
    assert sentry_emulator.requests_to("PUT")[-1].json == {"refs": []}


def test_bad_commit_spec_is_usage_error(repo: GitRepo, sentry_emulator, sentry_env) -> None:
    make_repo(repo)
    result = run_cli(["set-commits", "--commit", "no-at-sign"], repo.path, env=sentry_env)
    assert result.code == 2 and sentry_emulator.requests_to("POST") == []


def test_deploy_takes_an_explicit_commit_range(repo: GitRepo, sentry_emulator, sentry_env) -> None:
    make_repo(repo)
    sentry_emulator.add_repo("acme", "acme/shop", url="https://github.com/acme/shop")
    result = run_cli(["deploy", "-e", "production", "--commit", "acme/shop@aaaa..bbbb"], repo.path, env=sentry_env)
    assert result.code == 0, result.stderr
    refs = [put.json for put in sentry_emulator.requests_to("PUT") if "refs" in put.json]
    assert refs == [{"refs": [{"repository": "acme/shop", "commit": "bbbb", "previousCommit": "aaaa"}]}]
    assert len(sentry_emulator.requests_to("POST", "/deploys/")) == 1
