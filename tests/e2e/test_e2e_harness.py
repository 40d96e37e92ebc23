"""The harness itself: the server answers, tokens carry the scopes, projects are per test."""

from __future__ import annotations

import importlib.util
import json

import httpx
import pytest

from gitrepo import GitRepo

from .harness import SCRIPTS, Project, SentryApi, SentryServer, file_changes, rev_list

pytestmark = pytest.mark.e2e

RELEASE_SCOPES = {"project:releases", "project:read", "project:write", "org:read"}


def test_server_reports_the_tokens_scopes(real_sentry: SentryServer) -> None:
    answer = httpx.get(f"{real_sentry.url}/api/0/",
                       headers={"Authorization": f"Bearer {real_sentry.token}"}).json()
    assert RELEASE_SCOPES <= set(answer["auth"]["scopes"])

    read_only = httpx.get(f"{real_sentry.url}/api/0/",
                          headers={"Authorization": f"Bearer {real_sentry.ro_token}"}).json()
    assert read_only["auth"]["scopes"] == ["org:read"]


def test_fresh_project_exists_and_has_no_releases(
        sentry_api: SentryApi, e2e_project: Project) -> None:
    project = sentry_api.get_json(f"projects/{e2e_project.org}/{e2e_project.slug}/")
    assert project["slug"] == e2e_project.slug
    releases = sentry_api.get_all(
        f"organizations/{e2e_project.org}/releases/?project={e2e_project.id}")
    assert releases == []


def test_projects_differ_between_tests(e2e_project: Project) -> None:
    assert e2e_project.slug.startswith("e2e-")
    assert e2e_project.version(1) != e2e_project.version(2)


def test_read_only_token_cannot_create_a_release(
        real_sentry: SentryServer, e2e_project: Project) -> None:
    response = httpx.post(
        f"{real_sentry.url}/api/0/organizations/{e2e_project.org}/releases/",
        headers={"Authorization": f"Bearer {real_sentry.ro_token}"},
        json={"version": f"v{e2e_project.version()}", "projects": [e2e_project.slug]})
    assert response.status_code == 403


def test_wrong_token_is_rejected(real_sentry: SentryServer) -> None:
    response = httpx.get(f"{real_sentry.url}/api/0/organizations/{real_sentry.org}/",
                         headers={"Authorization": "Bearer " + "0" * 64})
    assert response.status_code == 401


def test_expected_file_changes_follow_the_first_parent(repo: GitRepo) -> None:
    root = repo.commit("root", {"a.txt": "a", "b.txt": "b"})
    renamed = repo.commit("rename", {"a.txt": None, "c.txt": "a"})
    assert file_changes(repo.path, root) == {("A", "a.txt"), ("A", "b.txt")}
    assert file_changes(repo.path, renamed) == {("D", "a.txt"), ("A", "c.txt")}
    assert rev_list(repo.path, f"{root}..HEAD") == [renamed]


def test_release_round_trip_reads_back(sentry_api: SentryApi, e2e_project: Project) -> None:
    """Serializing a release asks Snuba for statistics: proves the zero-row stand-in suffices."""
    org, version = e2e_project.org, f"v{e2e_project.version()}-harness"
    commit = {"id": "a" * 40, "repository": "acme/shop", "message": "harness commit",
              "timestamp": "2024-01-16T10:00:00Z", "patch_set": [{"path": "a.txt", "type": "A"}]}
    created = sentry_api.post(f"organizations/{org}/releases/",
                              json={"version": version, "projects": [e2e_project.slug],
                                    "commits": [commit]})
    assert created.status_code == 201, created.text
    deploy = sentry_api.post(f"organizations/{org}/releases/{version}/deploys/",
                             json={"environment": "production"})
    assert deploy.status_code == 201, deploy.text

    listed = sentry_api.get_all(f"organizations/{org}/releases/?project={e2e_project.id}")
    assert [r["version"] for r in listed] == [version]
    commits = sentry_api.get_all(f"organizations/{org}/releases/{version}/commits/")
    assert [(c["id"], c["repository"]["name"]) for c in commits] == [("a" * 40, "acme/shop")]
    files = sentry_api.get_all(f"organizations/{org}/releases/{version}/commitfiles/")
    assert [(f["type"], f["filename"], f["repoName"]) for f in files] == [("A", "a.txt", "acme/shop")]


def test_snuba_stand_in_names_the_selected_and_grouped_columns() -> None:
    spec = importlib.util.spec_from_file_location("snuba_stub", SCRIPTS / "snuba_stub.py")
    stub = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stub)
    query = ("MATCH (events) SELECT min(timestamp) AS `first_seen`, count() AS `times_seen` "
             "BY project_id, tags[sentry:release] WHERE project_id IN tuple(1, 2) "
             "ORDER BY times_seen DESC LIMIT 10 BY project_id")
    answer = json.loads(stub.empty_result(json.dumps({"query": query}).encode()))
    assert answer["data"] == []
    assert [m["name"] for m in answer["meta"]] == [
        "project_id", "tags[sentry:release]", "first_seen", "times_seen"]
