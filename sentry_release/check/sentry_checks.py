"""What Sentry says: the token and its scopes, the organization, the projects, the repository
integration, the release, and whether the app's DSN is a live key of the environment's project."""

from __future__ import annotations

import re
from typing import Any, Optional

from sentry_release import dsn as dsn_mod
from sentry_release.check.model import (
    FAILURE,
    OK,
    ORG_READ,
    PROJECT_READ,
    RELEASE_READ,
    RELEASE_WRITE,
    REPO_READ,
    WARNING,
    Check,
    Item,
    not_checked,
)
from sentry_release.check.values import export_fix, app_release
from sentry_release.errors import ApiError
from sentry_release.sentry import Context, seg


def check_token(run: Check) -> Item:
    title = "auth token"
    if not run.settings.auth_token:
        return Item("token", title, FAILURE, "no auth token is configured",
                    "set SENTRY_AUTH_TOKEN to a token with project:releases (or an organization auth token)")
    try:
        reply = run.api.get("", Context(action="read the auth token's scopes"))
    except ApiError as exc:
        return _api_failure("token", title, exc, "create a new token in Sentry and set SENTRY_AUTH_TOKEN")
    auth = reply.data.get("auth") if isinstance(reply.data, dict) else None
    if not isinstance(auth, dict):
        return Item("token", title, FAILURE, "Sentry did not recognise the token",
                    "create a new token in Sentry and set SENTRY_AUTH_TOKEN")
    scopes = frozenset(str(s) for s in auth.get("scopes") or ())
    run.facts.scopes = scopes
    run.facts.org_token = str(run.settings.auth_token).startswith("sntrys_") or not reply.data.get("user")
    kind = "organization auth token" if run.facts.org_token else "user auth token"
    listed = ", ".join(sorted(scopes)) or "none"
    if not run.facts.can(RELEASE_WRITE):
        needed = "org:ci" if run.facts.org_token else "project:releases"
        return Item("token", title, FAILURE,
                    f"valid {kind}, but it lacks {needed}, which creating releases and deploys needs "
                    f"(scopes: {listed})",
                    f"create a token with the {needed} scope and set SENTRY_AUTH_TOKEN")
    return Item("token", title, OK, f"valid {kind}; scopes: {listed}")


def _api_failure(key: str, title: str, exc: ApiError, fix: str) -> Item:
    if exc.status is None:
        return Item(key, title, FAILURE, str(exc), "check SENTRY_URL and the network")
    return Item(key, title, FAILURE, str(exc), fix)


def check_org(run: Check) -> Item:
    title, org = "organization", run.settings.org
    if not org:
        return Item("org", title, FAILURE, "no organization is configured",
                    "set SENTRY_ORG (the slug in your Sentry URL) or pass --org")
    if run.facts.scopes is None:
        return not_checked("org", title, "no usable auth token")
    context = Context(action=f"read organization {org}", not_found=f"organization {org!r} does not exist "
                      "or the token cannot see it", scope="org:read")
    try:
        if run.facts.can(ORG_READ):
            data = run.api.get(f"organizations/{seg(org)}/", context).data
            run.facts.org_id = str(data.get("id")) if isinstance(data, dict) and data.get("id") else None
        elif run.facts.can(RELEASE_READ):
            run.api.get(f"organizations/{seg(org)}/releases/", context, params={"per_page": 1})
        else:
            return not_checked("org", title, "the token can neither read the organization nor its releases")
    except ApiError as exc:
        fix = ("use a token of this organization, or fix SENTRY_ORG" if exc.status == 401
               else "check SENTRY_ORG (the slug in your Sentry URL) and the token's organization")
        return _api_failure("org", title, exc, fix)
    run.facts.org_ok = True
    return Item("org", title, OK, f"{org} exists and the token can reach it")


def check_projects(run: Check) -> Item:
    title, projects = "projects", list(run.settings.projects)
    if not projects:
        return Item("projects", title, FAILURE, "no project is configured",
                    "set SENTRY_PROJECT or pass --project (one Sentry project per environment is the guide's advice)")
    if not run.facts.org_ok:
        return not_checked("projects", title, "the organization could not be checked")
    if not run.facts.can(PROJECT_READ):
        return not_checked("projects", title, "the token cannot read projects (that needs project:read; "
                            "organization auth tokens never can); the release check below covers them")
    missing = []
    for slug in projects:
        context = Context(action=f"read project {slug}", not_found=f"project {slug!r} does not exist",
                          scope="project:read")
        try:
            data = run.api.get(f"projects/{seg(str(run.settings.org))}/{seg(slug)}/", context).data
        except ApiError as exc:
            if exc.status != 404:
                return _api_failure("projects", title, exc, "check SENTRY_PROJECT and the token's access")
            missing.append(slug)
            continue
        if isinstance(data, dict):
            run.facts.project_ids[slug] = str(data.get("id"))
            run.facts.org_id = run.facts.org_id or str((data.get("organization") or {}).get("id") or "") or None
    if missing:
        return Item("projects", title, FAILURE,
                    f"{', '.join(missing)} not found in {run.settings.org}, or the token cannot reach "
                    f"{'it' if len(missing) == 1 else 'them'}",
                    "fix SENTRY_PROJECT (project slugs), or give the token access to the project's team")
    shown = ", ".join(f"{slug} (id {run.facts.project_ids.get(slug, '?')})" for slug in projects)
    return Item("projects", title, OK, f"{shown} reachable")


def check_repository(run: Check) -> Item:
    title = "repository"
    if run.settings.commits == "skip":
        return Item("repository", title, OK, "commit association is switched off (commits = skip)")
    repo_dir = run.facts.repo_dir
    if repo_dir is None:
        return Item("repository", title, WARNING, "not inside a git checkout: deploys cannot associate commits",
                    "run in the checkout, or set commits = \"skip\" in [tool.sentry-release]")
    from sentry_release import remotes
    from sentry_release.git import Repository

    remote = Repository(repo_dir).remote_url(run.settings.vcs_remote)
    if remote is None:
        return Item("repository", title, OK,
                    f"no git remote {run.settings.vcs_remote!r}: commits will come from local git history")
    if not run.facts.org_ok:
        return not_checked("repository", title, "the organization could not be checked")
    if not run.facts.can(REPO_READ):
        return Item("repository", title, WARNING,
                    "the token cannot list repositories: commits will come from local git history",
                    "add org:read to the token to use the repository integration")
    context = Context(action=f"list the repositories of organization {run.settings.org}", scope="org:read")
    try:
        repos = list(run.api.paginate(f"organizations/{seg(str(run.settings.org))}/repos/", context))
    except ApiError as exc:
        return Item("repository", title, WARNING, f"{exc}: commits will come from local git history",
                    "add org:read to the token to use the repository integration")
    match = remotes.match_repository(remote, repos)
    if match is None:
        return Item("repository", title, OK,
                    f"no repository integration matches {_safe_remote(remote)}: commits will come from local "
                    "git history (connect the repository in Sentry for suspect commits)")
    provider = (match.get("provider") or {}).get("id", "integration")
    return Item("repository", title, OK,
                f"{_safe_remote(remote)} matches Sentry repository {match['name']!r} ({provider}): "
                "commits come through the integration")


def _safe_remote(url: str) -> str:
    """A remote URL without credentials (https://user:token@host/…)."""
    return re.sub(r"(?<=://)[^/@]+@", "", url)


def check_release_in_sentry(run: Check) -> Item:
    title = "release in Sentry"
    version = app_release(run.env)
    if version is None:
        return not_checked("release_exists", title, "the app has no RELEASE")
    if not run.facts.org_ok or not run.settings.projects:
        return not_checked("release_exists", title, "the organization or projects could not be checked")
    if not run.facts.can(RELEASE_READ):
        return not_checked("release_exists", title, "the token cannot read releases")
    org = str(run.settings.org)
    context = Context(action=f"read release {version} in organization {org}",
                      not_found=f"release {version!r} does not exist in organization {org!r}")
    try:
        data = run.api.get(f"organizations/{seg(org)}/releases/{seg(version)}/", context).data
    except ApiError as exc:
        if exc.status == 404:
            return Item("release_exists", title, FAILURE,
                        f"release {version} (the app's RELEASE) does not exist in Sentry organization {org}",
                        export_fix(run))
        return _api_failure("release_exists", title, exc, "check the token and SENTRY_ORG")
    attached = {str(p.get("slug")) for p in (data or {}).get("projects") or [] if isinstance(p, dict)}
    missing = [slug for slug in run.settings.projects if slug not in attached]
    if missing:
        return Item("release_exists", title, FAILURE,
                    f"release {version} exists, but not for project {', '.join(missing)}", export_fix(run))
    return Item("release_exists", title, OK,
                f"release {version} exists for {', '.join(run.settings.projects)}")


# -- the DSN against the project's client keys -------------------------------------------------

def _app_dsn(run: Check) -> Optional[dsn_mod.Dsn]:
    """The app's DSN when it is well-formed and for this server (the `dsn` item covers the rest)."""
    try:
        dsn = dsn_mod.parse_dsn(run.env.get("SENTRY_DSN") or "")
    except dsn_mod.BadDsn:
        return None
    return dsn if dsn_mod.host_matches(dsn.host, run.settings.url) else None


def _org_projects(run: Check) -> Optional[dict[str, str]]:
    """Project id -> slug for the whole organization; None when the token cannot list them."""
    if run.facts.org_projects is None and run.facts.can(ORG_READ):
        org = str(run.settings.org)
        context = Context(action=f"list the projects of organization {org}", scope="org:read")
        try:
            listed = list(run.api.paginate(f"organizations/{seg(org)}/projects/", context))
        except ApiError:
            return None
        run.facts.org_projects = {str(p.get("id")): str(p.get("slug")) for p in listed if isinstance(p, dict)}
    return run.facts.org_projects


def _client_keys(run: Check, slug: str) -> tuple[Optional[list[dict[str, Any]]], Optional[str]]:
    """The project's client keys, or None and why they could not be read."""
    if slug in run.facts.keys:
        return run.facts.keys[slug], None
    why = "reading client keys needs project:read (or project:write, project:admin), which this token lacks"
    if not run.facts.can(PROJECT_READ):
        return None, why
    context = Context(action=f"read the client keys of project {slug}", scope="project:read")
    try:
        keys = [key for key in run.api.paginate(f"projects/{seg(str(run.settings.org))}/{seg(slug)}/keys/",
                                                 context) if isinstance(key, dict)]
    except ApiError as exc:
        return None, why if exc.status in (401, 403) else str(exc)
    run.facts.keys[slug] = keys
    return keys, None


def expected_dsn(run: Check) -> Optional[str]:
    """The DSN of the environment's one configured project (its first active key), when readable."""
    if run.facts.expected_dsn is None and len(run.facts.project_ids) == 1:
        [slug] = run.facts.project_ids
        keys, _ = _client_keys(run, slug)
        active = [key for key in keys or () if key.get("isActive") and isinstance(key.get("dsn"), dict)]
        run.facts.expected_dsn = str(active[0]["dsn"].get("public") or "") or None if active else None
    return run.facts.expected_dsn


def _dsn_fix(run: Check, what: str) -> str:
    slugs = " or ".join(run.facts.project_ids) or "the environment's project"
    fix = f"{what}: copy {slugs}'s DSN from Project Settings → Client Keys into SENTRY_DSN"
    return fix + (", or run `sentry-release check --fix`" if expected_dsn(run) and run.env.file else "")


def check_dsn_project(run: Check) -> Item:
    key, title = "dsn_project", "DSN's project"
    dsn = _app_dsn(run)
    if dsn is None:
        return not_checked(key, title, "SENTRY_DSN is missing, malformed or for another server")
    ids = run.facts.project_ids
    if not ids:
        return not_checked(key, title, "the configured projects' ids are unknown (reading projects needs "
                           "project:read; organization auth tokens never can)",
                           "use a token with project:read to verify the DSN's project")
    label = run.environment_label()
    wanted = ", ".join(f"{slug} (id {pid})" for slug, pid in ids.items())
    wanted = f"{label} project is {wanted}" if len(ids) == 1 else f"{label} projects are {wanted}"
    if dsn.project_id in ids.values():
        slug = next(slug for slug, pid in ids.items() if pid == dsn.project_id)
        return Item(key, title, OK, f"{dsn.describe()} sends to {slug} (id {dsn.project_id}); {wanted}")
    everything = _org_projects(run)
    if everything is not None and dsn.project_id not in everything:
        return Item(key, title, FAILURE,
                    f"SENTRY_DSN names project id {dsn.project_id}, which does not exist in {run.settings.org}; "
                    f"{wanted}", _dsn_fix(run, "use a real project's DSN"))
    name = f"{everything[dsn.project_id]} (id {dsn.project_id})" if everything else f"project id {dsn.project_id}"
    return Item(key, title, FAILURE,
                f"SENTRY_DSN sends to {name}, but {wanted}: the app's errors would land in the wrong project",
                _dsn_fix(run, "use the environment's own project"))


def check_dsn_key(run: Check) -> Item:
    key, title = "dsn_key", "DSN's key"
    dsn = _app_dsn(run)
    if dsn is None:
        return not_checked(key, title, "SENTRY_DSN is missing, malformed or for another server")
    slug = next((slug for slug, pid in run.facts.project_ids.items() if pid == dsn.project_id), None)
    slug = slug or (_org_projects(run) or {}).get(dsn.project_id)
    if not run.facts.can(PROJECT_READ):
        _, why = _client_keys(run, slug or "")
        return Item(key, title, WARNING, f"not verified: whether {slug or f'project id {dsn.project_id}'} has "
                    f"the DSN's public key; {why}",
                    "give the token project:read to verify it (organization auth tokens cannot read client keys)")
    if slug is None:
        return not_checked(key, title, f"project id {dsn.project_id} is not a project this token can see")
    keys, why = _client_keys(run, slug)
    if keys is None:
        return Item(key, title, WARNING, f"not verified: whether {slug} has the DSN's public key; {why}",
                    "give the token project:read to verify it")
    match = next((found for found in keys if found.get("public") == dsn.public_key), None)
    if match is None:
        return Item(key, title, FAILURE,
                    f"the DSN's public key is not a client key of {slug}: Sentry refuses every event the app sends",
                    _dsn_fix(run, "use a key the project has"))
    if not match.get("isActive"):
        return Item(key, title, FAILURE, f"the DSN's key is disabled in {slug}: Sentry refuses the app's events",
                    "enable the key in Project Settings → Client Keys, or use an active key's DSN")
    return Item(key, title, OK, f"the DSN's public key is an active client key of {slug}")
