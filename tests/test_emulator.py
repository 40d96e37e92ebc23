"""The Sentry emulator, exercised with plain httpx: rules, bodies, pagination, auth, faults, contract."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from emulator import SentryEmulator
from emulator.contract import ContractChecker

NOT_FOUND = {"detail": "The requested resource does not exist"}
SHA = "a" * 40


@pytest.fixture
def api(sentry_emulator: SentryEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{sentry_emulator.url}/api/0/",
        headers={"Authorization": f"Bearer {sentry_emulator.token}"},
        timeout=5,
        verify=False,  # plain http; skipping the CA bundle load saves ~30 ms per client
    ) as client:
        yield client


def post(url: str, **options: Any) -> httpx.Response:
    return httpx.post(url, verify=False, **options)


def get(url: str, **options: Any) -> httpx.Response:
    return httpx.get(url, verify=False, **options)


def create(api: httpx.Client, version: str = "1.0", **body: Any) -> httpx.Response:
    return api.post("organizations/acme/releases/", json={"version": version, "projects": ["shop"], **body})


def commit(sha: str = SHA, **fields: Any) -> dict[str, Any]:
    return {"id": sha, "repository": "acme/shop", "message": "change", "author_email": "a@example.com",
            "timestamp": "2024-01-16T10:00:00Z", **fields}


# --- releases: validation tables ----------------------------------------------------------------


@pytest.mark.contract_violations_ok
@pytest.mark.parametrize(
    "version, message",
    [
        ("latest", "Release with name latest is not allowed"),
        ("Latest", "Release with name Latest is not allowed"),
        ("a/b", "Release with name a/b is not allowed"),
        (".", "Release with name . is not allowed"),
        ("..", "Release with name .. is not allowed"),
        ("   ", "Release with name     is not allowed"),
        ("a\nb", "Release with name a\nb is not allowed"),
        ("a\tb", "Release with name a\tb is not allowed"),
        ("a\\b", "Release with name a\\b is not allowed"),
        ("a\x0cb", "Release with name a\x0cb is not allowed"),
        ("", "This field may not be blank."),
        (None, "This field may not be null."),
        ("x" * 201, "Ensure this field has no more than 200 characters."),
        (True, "Not a valid string."),
        ([1], "Not a valid string."),
    ],
)
def test_bad_versions_are_rejected_with_sentrys_message(api: httpx.Client, version: Any, message: str) -> None:
    response = create(api, version)
    assert response.status_code == 400
    assert response.json() == {"version": [message]}


@pytest.mark.contract_violations_ok
@pytest.mark.parametrize("version, stored", [("x" * 200, "x" * 200), (" 1.0 ", " 1.0 "), ("ünï code", "ünï code"), (123, "123")])
def test_good_versions_are_stored_untrimmed_and_coerced(api: httpx.Client, version: Any, stored: str) -> None:
    response = create(api, version)
    assert response.status_code == 201
    assert response.json()["version"] == stored


@pytest.mark.contract_violations_ok
@pytest.mark.parametrize(
    "body, errors",
    [
        ({"version": "1"}, {"projects": ["This field is required."]}),
        ({"projects": ["shop"]}, {"version": ["This field is required."]}),
        ({"version": "1", "projects": "shop"}, {"projects": ['Expected a list of items but got type "str".']}),
        ({"version": "1", "projects": ["shop"], "ref": "r" * 201}, {"ref": ["Ensure this field has no more than 200 characters."]}),
        ({"version": "1", "projects": ["shop"], "url": "https://x"}, {"url": ["Enter a valid URL."]}),
        ({"version": "1", "projects": ["shop"], "dateReleased": "yesterday"},
         {"dateReleased": ["Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."]}),
        ({"version": "1", "projects": ["shop"], "status": "closed"}, {"status": ["Invalid status closed"]}),
        ({"version": "1", "projects": ["shop"], "commits": None}, {"commits": ["This field may not be null."]}),
        ({"version": "1", "projects": ["shop"], "commits": [{"message": "x"}]}, {"commits": {"0": {"id": ["This field is required."]}}}),
        ({"version": "1", "projects": ["shop"], "commits": ["abc"]},
         {"commits": {"0": {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}}}),
        ({"version": "1", "projects": ["shop"], "commits": [{"id": "c" * 65}]},
         {"commits": {"0": {"id": ["Ensure this field has no more than 64 characters."]}}}),
        ({"version": "1", "projects": ["shop"], "commits": [{"id": "c", "patch_set": [{"path": "a", "type": "R"}]}]},
         {"commits": {"0": {"patch_set": {"0": {"type": ["Commit patch_set type R is not supported."]}}}}}),
        ({"version": "1", "projects": ["shop"], "refs": [{"repository": "acme/shop", "commit": "c" * 65}]},
         {"refs": {"0": {"commit": ["Commit too long - max is 64 chars"]}}}),
        ({"version": "1", "projects": ["shop"], "refs": [{"repository": "acme/shop", "commit": "..abc"}]},
         {"refs": {"0": {"commit": ["Commit cannot begin or end with .."]}}}),
        ({"version": "1", "projects": ["shop"], "refs": [{"repository": "acme/shop", "commit": "a..%s" % ("b" * 65)}]},
         {"refs": {"0": {"commit": ["Start or end commit too long - max is 64 chars each"]}}}),
        ({"version": "1", "projects": ["shop"], "refs": [{"repository": "acme/shop"}]}, {"refs": {"0": {"commit": ["This field is required."]}}}),
        ({"version": "1", "projects": ["nope"]}, {"projects": ["Invalid project ids or slugs"]}),
        ({"version": "1", "projects": ["1"]}, {"projects": ["Invalid project ids or slugs"]}),
        ({"version": "1", "projects": [True]}, {"projects": ["Invalid project ids or slugs"]}),
        ({"version": "1", "projects": ["shop"], "refs": [{"repository": "x/y", "commit": "abc"}]},
         {"refs": ["Invalid repository names: x/y"]}),
    ],
)
def test_release_body_errors(api: httpx.Client, body: dict[str, Any], errors: dict[str, Any]) -> None:
    response = api.post("organizations/acme/releases/", json=body)
    assert (response.status_code, response.json()) == (400, errors)


@pytest.mark.contract_violations_ok
def test_server_crashes_are_emulated(api: httpx.Client) -> None:
    three_dots = create(api, refs=[{"repository": "acme/shop", "commit": "a..b..c"}])
    mixed = create(api, "2.0", commits=[commit("a"), {"id": "b", "repository": "acme/shop"}])
    null_message = create(api, "3.0", commits=[commit(message=None)])
    for response in (three_dots, mixed, null_message):
        assert response.status_code == 500
        assert response.json()["detail"] == "Internal Error"


def test_malformed_json_and_non_object_bodies(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    sentry_emulator.allow_contract_violations = True
    bad = api.post("organizations/acme/releases/", content=b"{nope", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["detail"].startswith("JSON parse error - ")
    listed = api.post("organizations/acme/releases/", json=[1])
    assert listed.json() == {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}


# --- releases: behaviour ------------------------------------------------------------------------


def test_create_then_again_is_208_and_new_project_is_201(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    sentry_emulator.add_project("acme", "web")
    first = create(api, url="https://example.com/r", dateStarted="ignored")
    assert first.status_code == 201
    assert create(api, url="https://example.com/other").status_code == 208
    assert create(api, projects=["shop", sentry_emulator.store.project("acme", "web").id]).status_code == 201
    stored = sentry_emulator.release("acme", "1.0")
    assert stored["url"] == "https://example.com/r"  # POST never updates an existing release
    assert [p["slug"] for p in stored["projects"]] == ["shop", "web"]


def test_commits_replace_skip_and_create_repositories(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    create(api, commits=[commit("1" * 40), commit("2" * 40)])
    response = api.put(
        "organizations/acme/releases/1.0/",
        json={"commits": [
            commit("3" * 40, message="skip me #skipsentry"),
            {"id": "4" * 40, "author_name": "Jane Q. Doe!", "timestamp": "2024-01-17T00:00:00Z", "patch_set": [{"path": "b.py", "type": "M"}, {"path": "a.py", "type": "A"}]},
        ]},
    )
    assert response.status_code == 200 and response.json()["commitCount"] == 1
    [stored] = sentry_emulator.commits("acme", "1.0")
    assert stored["id"] == "4" * 40
    assert stored["author"] == {"name": "Jane Q. Doe!", "email": "janeq.doe@localhost"}
    assert stored["repository"]["name"] == "organization-1"
    repos = {repo["name"]: repo["provider"] for repo in sentry_emulator.repos()}
    assert repos == {"acme/shop": {"id": "unknown", "name": "Unknown Provider"},
                     "organization-1": {"id": "unknown", "name": "Unknown Provider"}}
    files = api.get("organizations/acme/releases/1.0/commitfiles/").json()
    assert [(f["filename"], f["type"], f["repoName"]) for f in files] == [("a.py", "A", "organization-1"), ("b.py", "M", "organization-1")]
    assert files[0]["author"]["email"] == "janeq.doe@localhost" and "commitMessage" in files[0]


def test_release_bodies_as_sentry_23_7_1_serializes_them(api: httpx.Client) -> None:
    """Found by tests/e2e/test_e2e_parity.py: author names stay null, lastCommit lists its releases."""
    body = create(api, commits=[commit(author_email="bob@example.com")]).json()
    assert body["lastCommit"]["author"] == {"name": None, "email": "bob@example.com"}
    assert body["authors"] == [{"name": None, "email": "bob@example.com"}]
    assert [r["version"] for r in body["lastCommit"]["releases"]] == ["1.0"]
    user = api.get("").json()["user"]
    assert {"id", "name", "username", "email", "avatar", "emails", "options", "identities"} <= set(user)


def test_put_writes_truthy_values_and_empty_refs_clear(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    create(api, "v 1+2", ref="main", commits=[commit()])
    path = "organizations/acme/releases/v%201%2B2/"
    finalized = api.put(path, json={"dateReleased": "2024-01-16T12:00:00Z", "ref": ""})
    assert finalized.status_code == 200
    assert finalized.json()["dateReleased"] == "2024-01-16T12:00:00Z" and finalized.json()["ref"] == "main"
    sentry_emulator.add_repo("acme", "acme/app")
    with_refs = api.put(path, json={"refs": [{"repository": "acme/app", "commit": "p..c"}]})
    assert with_refs.status_code == 200
    assert sentry_emulator.head_commits("acme", "v 1+2")["acme/app"] == {"repository": "acme/app", "commit": "c", "previousCommit": "p"}
    assert api.put(path, json={"refs": []}).json()["commitCount"] == 0
    assert api.put("organizations/acme/releases/missing/", json={}).json() == NOT_FOUND


def test_refs_fetch_commits_from_a_provider_repository(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    history = [{"id": f"{n}" * 40, "message": f"c{n}", "author_email": "d@x.io", "timestamp": f"2024-01-0{n}T00:00:00Z"} for n in range(1, 6)]
    sentry_emulator.add_repo("acme", "acme/app", commits=history)
    create(api, refs=[{"repository": "acme/app", "commit": "2" * 40 + ".." + "4" * 40}])
    assert [c["id"][0] for c in sentry_emulator.commits("acme", "1.0")] == ["4", "3"]


def test_locked_release_answers_409(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    create(api)
    sentry_emulator.lock_release("acme", "1.0")
    response = api.put("organizations/acme/releases/1.0/", json={"commits": [commit()]})
    assert (response.status_code, response.json()) == (409, {"detail": "Release commits are currently being processed"})


def test_release_list_filters_and_pagination(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    for n in range(5):
        create(api, f"1.{n}")
    sentry_emulator.add_project("acme", "web")
    create(api, "web-1", projects=["web"])
    seen, url = [], "organizations/acme/releases/?per_page=2&project=1"
    while True:
        page = api.get(url)
        seen += [r["version"] for r in page.json()]
        nxt = page.links["next"]
        if page.headers["link"].split(", ")[1].endswith('results="false"; cursor="%s"' % nxt["cursor"]):
            break
        url = nxt["url"]
    assert seen == ["1.4", "1.3", "1.2", "1.1", "1.0"]
    assert [r["version"] for r in api.get("organizations/acme/releases/", params={"query": "WEB"}).json()] == ["web-1"]


@pytest.mark.contract_violations_ok
@pytest.mark.parametrize(
    "query, message",
    [
        ({"per_page": "0"}, "Invalid per_page value. Must be between 1 and 100."),
        ({"per_page": "101"}, "Invalid per_page value. Must be between 1 and 100."),
        ({"per_page": "ten"}, "Invalid per_page parameter."),
        ({"cursor": "x"}, "Invalid cursor parameter."),
        ({"cursor": "100:-1:0"}, "Pagination offset cannot be negative"),
    ],
)
def test_pagination_parameter_errors(api: httpx.Client, query: dict[str, str], message: str) -> None:
    response = api.get("organizations/acme/repos/", params=query)
    assert (response.status_code, response.json()) == (400, {"detail": message})


def test_repos_link_header_is_sentrys_format(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    for name in ("acme/b", "acme/a", "acme/c"):
        sentry_emulator.add_repo("acme", name)
    base = f"{sentry_emulator.url}/api/0/organizations/acme/repos/"
    first = api.get("organizations/acme/repos/", params={"per_page": 2})
    assert [r["name"] for r in first.json()] == ["acme/a", "acme/b"]
    assert first.headers["link"] == (
        f'<{base}?per_page=2&cursor=2:-1:1>; rel="previous"; results="false"; cursor="2:-1:1", '
        f'<{base}?per_page=2&cursor=2:1:0>; rel="next"; results="true"; cursor="2:1:0"'
    )
    second = api.get(first.links["next"]["url"])
    assert [r["name"] for r in second.json()] == ["acme/c"]
    assert second.headers["link"].endswith('rel="next"; results="false"; cursor="2:2:0"')
    bare = api.get("organizations/acme/repos/")
    assert f'<{base}?&cursor=100:1:0>; rel="next"; results="false"' in bare.headers["link"]


# --- auth ---------------------------------------------------------------------------------------


@pytest.mark.contract_violations_ok
@pytest.mark.parametrize(
    "header, status, message",
    [
        (None, 401, "Authentication credentials were not provided."),
        ("Bearer", 401, "Invalid token header. No credentials provided."),
        ("Bearer a b", 401, "Invalid token header. Token string should not contain spaces."),
        ("Bearer wrong", 401, "Invalid token"),
        ("bearer sntrys_e30=_abc", 401, "Invalid org token"),
        ("RO", 403, "You do not have permission to perform this action."),
    ],
)
def test_auth_failures(sentry_emulator: SentryEmulator, header: str | None, status: int, message: str) -> None:
    headers = {} if header is None else {"Authorization": header.replace("RO", f"Bearer {sentry_emulator.ro_token}")}
    response = post(f"{sentry_emulator.url}/api/0/organizations/acme/releases/", json={"version": "1", "projects": ["shop"]}, headers=headers)
    assert (response.status_code, response.json()) == (status, {"detail": message})


def test_scopes_orgs_and_org_tokens(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    read_only = {"Authorization": f"Bearer {sentry_emulator.ro_token}"}
    assert api.get("organizations/acme/repos/", headers=read_only).status_code == 200
    assert api.get("organizations/nope/releases/").json() == NOT_FOUND
    assert api.get("organizations/1/releases/").status_code == 200  # a decimal string is an org id
    assert api.get("").json()["auth"]["scopes"] == ["project:releases", "project:read", "project:write", "org:read"]
    sentry_emulator.add_org("other")
    org_token = sentry_emulator.make_org_token("acme")
    as_org = {"Authorization": f"Bearer {org_token}"}
    assert org_token.count("_") == 2
    assert api.get("", headers=as_org).json() == {"version": "0", "auth": {"scopes": ["org:ci"]}, "user": None}
    assert create(api, headers=as_org).status_code == 201
    wrong_org = api.get("organizations/other/releases/", headers=as_org)
    assert (wrong_org.status_code, wrong_org.json()) == (401, {"detail": "Unauthorized organization access."})


def test_release_invisible_to_a_token_without_its_projects(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    sentry_emulator.add_project("acme", "web")
    limited = sentry_emulator.add_token("sntryu_" + "1" * 64, ["project:releases"], projects=["web"])
    create(api)
    assert api.get("organizations/acme/releases/1.0/", headers={"Authorization": f"Bearer {limited}"}).json() == NOT_FOUND


# --- deploys ------------------------------------------------------------------------------------


@pytest.mark.contract_violations_ok
@pytest.mark.parametrize(
    "body, errors",
    [
        ({}, {"environment": ["This field is required."]}),
        ({"environment": ""}, {"environment": ["This field may not be blank."]}),
        ({"environment": "  "}, {"environment": ["This field may not be blank."]}),
        ({"environment": "bad/env"}, {"environment": ["Invalid value for environment"]}),
        ({"environment": "a\nb"}, {"environment": ["Invalid value for environment"]}),
        ({"environment": "e" * 65}, {"environment": ["Ensure this field has no more than 64 characters."]}),
        ({"environment": "prod", "name": "n" * 65}, {"name": ["Ensure this field has no more than 64 characters."]}),
        ({"environment": "prod", "url": "https://x"}, {"url": ["Enter a valid URL."]}),
        ({"environment": "prod", "url": "not a url"}, {"url": ["Enter a valid URL."]}),
        ({"environment": "prod", "projects": []}, {"projects": ["This list may not be empty."]}),
        ({"environment": "prod", "projects": ["nope"]}, {"projects": ["Invalid project"]}),
    ],
)
def test_deploy_body_errors(api: httpx.Client, body: dict[str, Any], errors: dict[str, Any]) -> None:
    create(api)
    response = api.post("organizations/acme/releases/1.0/deploys/", json=body)
    assert (response.status_code, response.json()) == (400, errors)


@pytest.mark.parametrize("environment, stored", [("prod\n", "prod"), ("with space", "with space"), ("tab\there", "tab\there"), ("back\\slash", "back\\slash")])
def test_deploy_environments_accepted(api: httpx.Client, environment: str, stored: str) -> None:
    create(api)
    response = api.post("organizations/acme/releases/1.0/deploys/", json={"environment": environment, "url": "http://localhost:8000/x"})
    assert response.status_code == 201 and response.json()["environment"] == stored


def test_deploys_projects_defaults_and_listing(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    sentry_emulator.add_project("acme", "web")
    create(api)
    path = "organizations/acme/releases/1.0/deploys/"
    outsider = api.post(path, json={"environment": "prod", "projects": ["web"]})
    assert outsider.json() == {"detail": {"code": "parameter-validation-error",
                                          "message": "Invalid projects (web) for release 1.0", "extra": {"context": ""}}}
    first = api.post(path, json={"environment": "prod", "name": "run 1", "url": "https://ci.example.com/1",
                                 "dateStarted": "2024-01-16T10:00:00Z", "dateFinished": "2024-01-16T10:05:00Z"})
    assert first.status_code == 201
    assert first.json() == {"id": "1", "environment": "prod", "dateStarted": "2024-01-16T10:00:00Z",
                            "dateFinished": "2024-01-16T10:05:00Z", "name": "run 1", "url": "https://ci.example.com/1"}
    second = api.post(path, json={"environment": "prod"}).json()
    assert second["dateFinished"] > "2024" and second["dateStarted"] is None
    api.post(path, json={"environment": "staging", "dateFinished": "2024-01-15T00:00:00Z"})
    assert [d["id"] for d in api.get(path).json()] == ["2", "3"]  # RULES: latest per (project, env)
    sentry_emulator.deploys_latest_only = False  # Sentry 23.7.1 lists every deploy
    assert [d["id"] for d in api.get(path).json()] == ["2", "1", "3"]
    assert api.post("organizations/acme/releases/nope/deploys/", json={"environment": "prod"}).json() == NOT_FOUND
    assert len(sentry_emulator.deploys("acme", "1.0")) == 3


# --- previous-with-commits, commits -------------------------------------------------------------


def test_previous_with_commits(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    path = "organizations/acme/releases/{}/previous-with-commits/"
    create(api, "1.0")
    assert api.get(path.format("1.0")).json() == {}
    assert api.get(path.format("nope")).json() == NOT_FOUND
    api.put("organizations/acme/releases/1.0/", json={"commits": [commit()]})
    create(api, "2.0")
    assert api.get(path.format("2.0")).json()["version"] == "1.0"
    sentry_emulator.add_project("acme", "web")
    web_id = sentry_emulator.store.project("acme", "web").id
    assert api.get(path.format("2.0"), params={"project": web_id}).json() == {}


def test_commits_are_paginated_newest_first(api: httpx.Client) -> None:
    commits = [commit(f"{n}" * 40, timestamp=f"2024-01-0{n}T00:00:00Z") for n in range(1, 4)]
    create(api, commits=commits)
    page = api.get("organizations/acme/releases/1.0/commits/", params={"per_page": 2})
    assert [c["id"][0] for c in page.json()] == ["3", "2"]
    assert [c["id"][0] for c in api.get(page.links["next"]["url"]).json()] == ["1"]
    assert set(page.json()[0]) >= {"id", "message", "dateCreated", "repository", "author", "releases"}


# --- release lifecycle (shared/sentry-api/LIFECYCLE.md) -------------------------------------------


def deploy_to(api: httpx.Client, version: str, environment: str, **body: Any) -> httpx.Response:
    return api.post(f"organizations/acme/releases/{version}/deploys/", json={"environment": environment, **body})


def versions(api: httpx.Client, **params: Any) -> list[str]:
    return [r["version"] for r in api.get("organizations/acme/releases/", params=params).json()]


def test_environment_lists_hold_deployed_releases_by_creation_not_deploy_or_release_date(
        sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    pid = sentry_emulator.project.id
    for version in ("v1", "v2", "v3"):
        create(api, version)
    deploy_to(api, "v1", "staging"), deploy_to(api, "v1", "production")
    deploy_to(api, "v2", "staging"), deploy_to(api, "v3", "production")
    assert versions(api, project=pid, environment="production") == ["v3", "v1"]
    assert versions(api, project=pid, environment="staging") == ["v2", "v1"]
    deploy_to(api, "v1", "production")  # a rollback: v1 is production's newest deploy
    api.put("organizations/acme/releases/v1/", json={"dateReleased": "2030-01-01T00:00:00Z"})
    assert versions(api, project=pid, environment="production") == ["v3", "v1"]
    assert versions(api, project=pid) == ["v3", "v2", "v1"]


def test_environment_list_counts_deploys_of_the_asked_project_only(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    web = sentry_emulator.add_project("acme", "web")
    create(api, "v1", projects=["shop", "web"])
    deploy_to(api, "v1", "production", projects=["web"])
    assert versions(api, project=web.id, environment="production") == ["v1"]
    assert versions(api, project=sentry_emulator.project.id, environment="production") == []


def test_last_deploy_is_the_newest_in_any_environment_and_deploys_list_newest_first(
        sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    sentry_emulator.deploys_latest_only = False  # 23.7.1 lists every deploy
    create(api, "v1")
    deploy_to(api, "v1", "production", name="first", dateFinished="2024-01-02T00:00:00Z")
    deploy_to(api, "v1", "production", name="older", dateFinished="2020-01-01T00:00:00Z")
    deploy_to(api, "v1", "staging", name="now", url="https://ci.example.com/3")
    release = api.get("organizations/acme/releases/v1/").json()
    assert (release["lastDeploy"]["name"], release["lastDeploy"]["environment"], release["deployCount"]) == ("now", "staging", 3)
    listed = api.get("organizations/acme/releases/v1/deploys/").json()
    assert [d["name"] for d in listed] == ["now", "first", "older"]  # by dateFinished, newest first
    assert set(listed[0]) == {"id", "environment", "dateStarted", "dateFinished", "name", "url"}
    [in_list] = api.get("organizations/acme/releases/").json()
    assert in_list["lastDeploy"]["name"] == "now"


def test_previous_with_commits_is_blind_to_environments_and_orders_by_release_date(
        sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    path = "organizations/acme/releases/v3/previous-with-commits/"
    create(api, "v1", commits=[commit("1" * 40)])
    create(api, "v2", commits=[commit("2" * 40)])
    deploy_to(api, "v2", "staging")
    deploy_to(api, "v1", "production")
    # v1 released after v2: by COALESCE(dateReleased, dateCreated) it is the newer one
    api.put("organizations/acme/releases/v2/", json={"dateReleased": "2000-01-01T00:00:00Z"})
    api.put("organizations/acme/releases/v1/", json={"dateReleased": "2001-01-01T00:00:00Z"})
    create(api, "v3")
    assert api.get(path).json()["version"] == "v1"
    staging = {"environment": "staging", "project": sentry_emulator.project.id}
    assert api.get(path, params=staging).json()["version"] == "v1"
    # a release dated after this one is not "previous"
    api.put("organizations/acme/releases/v1/", json={"dateReleased": "2999-01-01T00:00:00Z"})
    assert api.get(path).json()["version"] == "v2"


def test_ref_is_kept_on_208_and_shown_in_lists(api: httpx.Client) -> None:
    first = create(api, ref="a" * 40)
    again = create(api, ref="b" * 40)
    assert (first.status_code, first.json()["ref"]) == (201, "a" * 40)
    assert (again.status_code, again.json()["ref"]) == (208, "a" * 40)
    assert [r["ref"] for r in api.get("organizations/acme/releases/").json()] == ["a" * 40]


def test_every_commit_upload_replaces_the_one_list(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    create(api, commits=[commit("1" * 40), commit("2" * 40)])
    api.put("organizations/acme/releases/1.0/", json={"commits": [commit("3" * 40)]})
    assert [c["id"] for c in sentry_emulator.commits("acme", "1.0")] == ["3" * 40]
    history = [{"id": f"{n}" * 40, "message": f"c{n}", "timestamp": f"2024-01-0{n}T00:00:00Z"} for n in range(4, 8)]
    sentry_emulator.add_repo("acme", "acme/app", commits=history)
    api.put("organizations/acme/releases/1.0/", json={"refs": [{"repository": "acme/app", "commit": "7" * 40, "previousCommit": "5" * 40}]})
    assert [c["id"][0] for c in sentry_emulator.commits("acme", "1.0")] == ["7", "6"]


def test_refs_to_a_repository_without_a_provider_yield_no_commits(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    sentry_emulator.add_repo("acme", "acme/plain", provider=None)
    response = create(api, refs=[{"repository": "acme/plain", "commit": "b" * 40, "previousCommit": "a" * 40}])
    assert (response.status_code, response.json()["commitCount"]) == (201, 0)


def test_current_project_meta_respects_the_environment(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    pid = sentry_emulator.project.id
    for version in ("v1", "v2", "v3"):
        create(api, version)
    deploy_to(api, "v1", "production"), deploy_to(api, "v2", "staging"), deploy_to(api, "v3", "production")

    def meta(version: str, **params: Any) -> dict[str, Any]:
        return api.get(f"organizations/acme/releases/{version}/", params=params).json()["currentProjectMeta"]

    assert meta("v3") == {}
    assert meta("v3", project=pid) == {
        "sessionsLowerBound": None, "sessionsUpperBound": None, "nextReleaseVersion": None,
        "prevReleaseVersion": "v2", "firstReleaseVersion": "v1", "lastReleaseVersion": "v3"}
    assert meta("v3", project=pid, environment="production")["prevReleaseVersion"] == "v1"
    staging = meta("v3", project=pid, environment="staging")
    assert (staging["prevReleaseVersion"], staging["lastReleaseVersion"]) == ("v2", "v2")
    assert meta("v1", project=pid, environment="production")["nextReleaseVersion"] == "v3"


# --- envelope -----------------------------------------------------------------------------------


def envelope(event_id: str = "e" * 32, *, length: bool = True) -> bytes:
    payload = json.dumps({"event_id": event_id, "message": "hi", "release": "1.0"}).encode()
    item = {"type": "event", **({"length": len(payload)} if length else {})}
    return b"\n".join([json.dumps({"event_id": event_id, "sent_at": "2024-01-01T00:00:00Z"}).encode(), json.dumps(item).encode(), payload])


def test_envelope_store(sentry_emulator: SentryEmulator) -> None:
    dsn = httpx.URL(sentry_emulator.dsn())
    url = f"{sentry_emulator.url}/api{dsn.path}/envelope/"
    auth = {"X-Sentry-Auth": f"Sentry sentry_key={dsn.username}, sentry_version=7, sentry_client=test/1"}
    ok = post(url, content=gzip.compress(envelope()), headers={**auth, "Content-Encoding": "gzip"})
    assert (ok.status_code, ok.json()) == (200, {"id": "e" * 32})
    assert post(url, content=envelope("f" * 32, length=False), headers=auth).status_code == 200
    assert [e["message"] for e in sentry_emulator.events] == ["hi", "hi"]
    assert post(url, content=envelope()).status_code == 401
    assert post(url, content=envelope(), headers={"X-Sentry-Auth": "Sentry sentry_key=0000, sentry_version=7"}).status_code == 403
    assert post(url, content=b"not json\n{}", headers=auth).status_code == 400


# --- faults and latency -------------------------------------------------------------------------


def test_fault_status_headers_and_times(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    sentry_emulator.faults.add(method="POST", path=r"/releases/$", status=429, retry_after=2, rate_limit_reset=1700000000, times=2)
    for _ in range(2):
        limited = create(api)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
        assert limited.headers["x-sentry-rate-limit-reset"] == "1700000000"
        assert limited.json()["detail"].startswith("You are attempting to use this endpoint too frequently")
    assert create(api).status_code == 201
    assert [r.fault is not None for r in sentry_emulator.requests] == [True, True, False]


def test_fail_nth_request_in_a_sequence(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    sentry_emulator.faults.fail_nth(2, status=500)
    assert [create(api, f"{n}").status_code for n in range(3)] == [201, 500, 201]
    assert sentry_emulator.release("acme", "1") is None


def test_drop_reset_and_stall(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    sentry_emulator.faults.add(drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("")
    sentry_emulator.faults.add(reset=True)
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        api.get("")
    sentry_emulator.faults.add(method="POST", stall=0.5)
    with pytest.raises(httpx.ReadTimeout):
        api.post("organizations/acme/releases/", json={"version": "lost", "projects": ["shop"]}, timeout=0.2)
    assert sentry_emulator.release("acme", "lost") is not None  # handled; only the answer was lost
    sentry_emulator.faults.add(method="POST", drop=True, process=True)
    with pytest.raises(httpx.RemoteProtocolError):
        create(api, "dropped-after-work")
    assert create(api, "dropped-after-work").status_code == 208
    assert [r.status for r in sentry_emulator.requests][:2] == [None, None]


def test_latency_and_connections(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    sentry_emulator.latency = 0.05
    sentry_emulator.connect_latency = 0.1
    started = time.monotonic()
    api.get("")
    api.get("")
    assert time.monotonic() - started >= 0.2
    assert sentry_emulator.connection_count == 1  # keep-alive
    sentry_emulator.faults.add(delay=0.1)
    started = time.monotonic()
    get(f"{sentry_emulator.url}/api/0/")
    assert time.monotonic() - started >= 0.25 and sentry_emulator.connection_count == 2


# --- contract -----------------------------------------------------------------------------------


def test_contract_catches_a_wrong_type(sentry_emulator: SentryEmulator, api: httpx.Client) -> None:
    sentry_emulator.contract.require()
    assert create(api, "fine").status_code == 201
    assert sentry_emulator.contract_violations == []
    api.post("organizations/acme/releases/fine/deploys/", json={"environment": 5})  # coerced by the server
    violations = sentry_emulator.take_contract_violations()
    assert len(violations) == 1 and "deploys" in violations[0] and "is not of type 'string'" in violations[0]
    api.get("organizations/acme/releases/fine/previous-with-commits/")
    assert sentry_emulator.contract_violations == []
    assert any("previous-with-commits" in note for note in sentry_emulator.contract.notes)


def test_contract_layer_skips_without_the_shared_folder(tmp_path: Path) -> None:
    checker = ContractChecker(shared_dir=tmp_path / "no-shared")
    assert not checker.enabled and "not found" in checker.skip_reason
    with SentryEmulator(contract=checker) as emulator:
        assert emulator.contract_skip_reason == checker.skip_reason
        post(f"{emulator.url}/api/0/organizations/acme/releases/", json={"version": 1})
        assert emulator.contract_violations == []
        with pytest.raises(pytest.skip.Exception, match="contract checks skipped"):
            emulator.contract.require()


# --- standalone ---------------------------------------------------------------------------------


def test_standalone_prints_url_and_serves_state() -> None:
    tests_dir = Path(__file__).parent
    command = [sys.executable, "-m", "emulator", "--port", "0", "--token", "tok", "--org", "acme", "--project", "shop",
               "--repo", "name=acme/shop,provider=integrations:github,url=https://github.com/acme/shop"]
    process = subprocess.Popen(command, cwd=tests_dir, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env={**os.environ, "PYTHONPATH": str(tests_dir)})
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        created = post(f"{url}/api/0/organizations/acme/releases/", json={"version": "1.0", "projects": ["shop"]},
                             headers={"Authorization": "Bearer tok"})
        assert created.status_code == 201
        state = get(f"{url}/_emulator/state").json()
        assert [r["version"] for r in state["releases"]["acme"]] == ["1.0"]
        assert state["request_count"] == 1 and state["repos"][0]["name"] == "acme/shop"
    finally:
        process.terminate()
        process.wait(timeout=5)
