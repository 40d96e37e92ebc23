"""The Sentry API behaviour: state, authentication, scopes and endpoint handlers.

Everything here is plain Python over in-memory state; ``server.py`` puts HTTP around it.
Rule numbers (§) refer to ``shared/sentry-api/RULES.md``.
"""
from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import unquote

from . import health
from . import validation as v
from .pagination import ParseError, last_value, paginate
from .state import (
    Commit,
    Deploy,
    Organization,
    Project,
    Release,
    Repository,
    Token,
    author_email_for,
    iso,
    utcnow,
)

NOT_FOUND = "The requested resource does not exist"
NO_PERMISSION = "You do not have permission to perform this action."
COMMITS_LOCKED = "Release commits are currently being processed"

RELEASE_SCOPES = {
    "GET": {"project:read", "project:write", "project:admin", "project:releases", "org:ci"},
    "POST": {"project:write", "project:admin", "project:releases", "org:ci"},
    "PUT": {"project:write", "project:admin", "project:releases", "org:ci"},
    "DELETE": {"project:admin", "project:releases"},
}
ORG_SCOPES = {
    "GET": {"org:read", "org:write", "org:admin"},
    "POST": {"org:write", "org:admin"},
    "PUT": {"org:write", "org:admin"},
    "DELETE": {"org:admin"},
}
REPO_SCOPES = {"GET": {"org:admin", "org:ci", "org:integrations", "org:read", "org:write"}}
PROJECT_SCOPES = {"GET": {"project:read", "project:write", "project:admin"}}

DEFAULT_USER = {"id": "1", "name": "admin", "username": "admin", "email": "admin@example.com"}


class HttpError(Exception):
    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def detail(status: int, message: Any, headers: Mapping[str, str] | None = None) -> HttpError:
    return HttpError(status, {"detail": message}, headers)


def internal_error() -> HttpError:
    return HttpError(500, {"detail": "Internal Error", "errorId": uuid.uuid4().hex})


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-able; None means no body
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ApiRequest:
    method: str
    raw_path: str  # still percent-encoded
    query: list[tuple[str, str]]
    headers: Mapping[str, str]  # case-insensitive mapping
    body: bytes
    base_url: str

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise detail(400, f"JSON parse error - {error}") from error

    def body_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise HttpError(
                400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(data).__name__}."]}
            )
        return data


@dataclass
class Caller:
    token: Token | None

    def has_any_scope(self, wanted: set[str]) -> bool:
        return self.token is not None and bool(wanted & set(self.token.scopes))

    def can_access(self, project: Project) -> bool:
        if self.token is None:
            return False
        if self.token.org is not None:
            return self.token.org is project.org
        return self.token.projects is None or project.slug in self.token.projects


class Store:
    """All emulator state, guarded by ``lock``; handlers run with the lock held."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.deploys_latest_only = True  # RULES §3.5; Sentry 23.7.1 lists every deploy
        self.nested_errors_by_index = True  # RULES §3.3; 23.7.1 answered without the index
        self.commit_processing_time = 0.0
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self._ids: dict[str, int] = {}
            self.orgs: list[Organization] = []
            self.projects: list[Project] = []
            self.tokens: dict[str, Token] = {}
            self.repos: list[Repository] = []
            self.releases: list[Release] = []
            self.environments: dict[int, list[str]] = {}
            self.events: list[dict[str, Any]] = []
            self.envelopes: list[dict[str, Any]] = []
            self.health = health.Health()
            self._last_created: datetime | None = None

    def next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    # --- setup -------------------------------------------------------------------------------

    def add_org(self, slug: str) -> Organization:
        with self.lock:
            org = Organization(self.next_id("org"), slug, slug.title())
            self.orgs.append(org)
            self.environments[org.id] = []
            return org

    def add_project(self, org: str | Organization, slug: str) -> Project:
        with self.lock:
            organization = self.org(org)
            project = Project(self.next_id("project"), slug, organization)
            self.projects.append(project)
            return project

    def add_token(
        self, value: str, scopes: Sequence[str], org: str | Organization | None = None, projects: Sequence[str] | None = None
    ) -> Token:
        with self.lock:
            token = Token(value, list(scopes), self.org(org) if org is not None else None, set(projects) if projects is not None else None)
            self.tokens[value] = token
            return token

    def make_org_token(self, org: str | Organization, base_url: str, scopes: Sequence[str] = ("org:ci",)) -> str:
        """A well-formed ``sntrys_`` org auth token (RULES §5) registered for ``org``."""
        organization = self.org(org)
        payload = {"iat": time.time(), "url": base_url, "region_url": base_url, "org": organization.slug}
        encoded = base64.b64encode(json.dumps(payload).encode()).decode()
        secret = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        value = f"sntrys_{encoded}_{secret}"
        self.add_token(value, scopes, organization)
        return value

    def add_repo(
        self, org: str | Organization, name: str, provider: str | None = "integrations:github", url: str | None = None, status: str = "active"
    ) -> Repository:
        with self.lock:
            organization = self.org(org)
            if url is None and provider and "github" in provider:
                url = f"https://github.com/{name}"
            repo = Repository(self.next_id("repo"), organization, name, provider, url, status)
            self.repos.append(repo)
            return repo

    # --- lookups -----------------------------------------------------------------------------

    def org(self, key: str | int | Organization) -> Organization:
        found = self.find_org(key)
        if found is None:
            raise KeyError(f"no organization {key!r}")
        return found

    def find_org(self, key: str | int | Organization) -> Organization | None:
        if isinstance(key, Organization):
            return key
        text = str(key)
        for org in self.orgs:
            # A decimal string is looked up as an id (RULES §2).
            if (text.isdecimal() and org.id == int(text)) or org.slug == text:
                return org
        return None

    def project(self, org: str | Organization, slug: str) -> Project:
        organization = self.org(org)
        for project in self.projects:
            if project.org is organization and project.slug == slug:
                return project
        raise KeyError(f"no project {slug!r} in {organization.slug}")

    def org_projects(self, org: Organization) -> list[Project]:
        return [project for project in self.projects if project.org is org]

    def find_release(self, org: Organization, version: str) -> Release | None:
        for release in self.releases:
            if release.org is org and release.version == version:
                return release
        return None

    def org_releases(self, org: Organization) -> list[Release]:
        return [release for release in self.releases if release.org is org]

    def find_repo(self, org: Organization, name: str, active_only: bool) -> Repository | None:
        for repo in self.repos:
            if repo.org is org and repo.name == name and (repo.status == "active" or not active_only):
                return repo
        return None

    def creation_time(self) -> datetime:
        """Strictly increasing creation dates keep "newest first" orders deterministic."""
        now = utcnow()
        if self._last_created is not None and now <= self._last_created:
            now = self._last_created + timedelta(microseconds=1)
        self._last_created = now
        return now

    def create_release(self, org: Organization, version: str, **values: Any) -> Release:
        release = Release(self.next_id("release"), org, version, self.creation_time(), **values)
        self.releases.append(release)
        return release

    # --- release behaviour (§3.3, §3.4) ------------------------------------------------------

    def set_commits(self, release: Release, commits: list[dict[str, Any]]) -> None:
        if any(commit.get("_null_message") for commit in commits):
            raise internal_error()  # `"#skipsentry" in None` raises TypeError upstream
        try:
            ordered = sorted(commits, key=lambda commit: commit.get("timestamp", 0), reverse=True)
        except TypeError:
            # Seen on Sentry 23.7.1: mixing commits with and without timestamps crashes the sort.
            raise internal_error() from None
        if time.monotonic() < release.locked_until:
            raise detail(409, COMMITS_LOCKED)
        release.locked_until = time.monotonic() + self.commit_processing_time
        kept = [commit for commit in ordered if "#skipsentry" not in (commit.get("message") or "")]
        release.commits = [self._commit_from(release.org, commit) for commit in kept]

    def _commit_from(self, org: Organization, data: Mapping[str, Any]) -> Commit:
        name = data.get("repository") or f"organization-{org.id}"
        repo = self.find_repo(org, name, active_only=True) or self.add_repo(org, name, provider=None)
        return Commit(
            id=data["id"],
            repository=repo,
            message=data.get("message"),
            author_name=data.get("author_name"),
            author_email=author_email_for(data.get("author_name"), data.get("author_email")),
            timestamp=_as_datetime(data.get("timestamp")),
            patch_set=list(data.get("patch_set") or []),
        )

    def set_refs(self, release: Release, refs: list[dict[str, Any]], fetch: bool) -> None:
        names = {ref["repository"] for ref in refs}
        known = {repo.name for repo in self.repos if repo.org is release.org}
        missing = sorted(names - known)
        if missing:
            raise HttpError(400, {"refs": [f"Invalid repository names: {','.join(missing)}"]})
        for ref in refs:
            previous = ref.get("previousCommit") or None
            commit = ref["commit"]
            if ".." in commit:
                previous, commit = commit.split("..")
            release.head_commits[ref["repository"]] = {
                "repository": ref["repository"],
                "commit": commit,
                "previousCommit": previous,
            }
        if fetch:
            self._fetch_commits(release)

    def _fetch_commits(self, release: Release) -> None:
        """What ``fetch_commits`` does through a provider; repos without one are skipped."""
        fetched: list[dict[str, Any]] = []
        for name, head in release.head_commits.items():
            repo = self.find_repo(release.org, name, active_only=True)
            if repo is None or not repo.provider or not repo.remote_commits:
                continue
            start = head["previousCommit"] or self._previous_head(release, name)
            fetched.extend(_commit_range(repo, start, head["commit"]))
        if fetched:
            release.commits = [self._commit_from(release.org, commit) for commit in reversed(fetched)]

    def _previous_head(self, release: Release, repo_name: str) -> str | None:
        earlier = [
            other
            for other in self.org_releases(release.org)
            if other is not release and repo_name in other.head_commits and other.date_created < release.date_created
        ]
        if not earlier:
            return None
        return max(earlier, key=lambda other: other.date_created).head_commits[repo_name]["commit"]


def _as_datetime(value: Any) -> datetime | None:
    return v.parse_datetime(value) if isinstance(value, str) else value


def _commit_range(repo: Repository, start: str | None, end: str) -> list[dict[str, Any]]:
    shas = [commit["id"] for commit in repo.remote_commits]
    if end not in shas:
        return []  # upstream e-mails "Unable to Fetch Commits"; the HTTP answer is unaffected
    stop = shas.index(end) + 1
    begin = shas.index(start) + 1 if start in shas else max(0, stop - 20)
    return [dict(commit, repository=repo.name) for commit in repo.remote_commits[begin:stop]]


# --- routing --------------------------------------------------------------------------------

Handler = Callable[["Api", ApiRequest, Caller, dict[str, str]], Response]


@dataclass
class Route:
    pattern: re.Pattern[str]
    handlers: dict[str, Handler]
    scopes: dict[str, set[str]] | None  # None: no permission check (e.g. the index)


class Api:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.routes = self._routes()

    def _routes(self) -> list[Route]:
        org = r"/api/0/organizations/(?P<org>[^/]+)"
        release = org + r"/releases/(?P<version>[^/]+)"
        table = [
            (r"/api/0/", {"GET": Api.index}, None),
            (r"/api/0/organizations/", {"GET": Api.list_orgs}, ORG_SCOPES),
            (org + "/", {"GET": Api.get_org}, ORG_SCOPES),
            (org + "/projects/", {"GET": Api.list_projects}, ORG_SCOPES),
            (org + "/environments/", {"GET": Api.list_environments}, ORG_SCOPES),
            (org + "/repos/", {"GET": Api.list_repos}, REPO_SCOPES),
            (org + "/issues/", {"GET": health.list_issues}, health.ISSUE_SCOPES),
            (org + "/releases/", {"GET": Api.list_releases, "POST": Api.create_release}, RELEASE_SCOPES),
            (release + "/", {"GET": health.with_health(Api.get_release), "PUT": Api.update_release, "DELETE": Api.delete_release}, RELEASE_SCOPES),
            (release + "/deploys/", {"GET": Api.list_deploys, "POST": Api.create_deploy}, RELEASE_SCOPES),
            (release + "/commits/", {"GET": Api.list_commits}, RELEASE_SCOPES),
            (release + "/commitfiles/", {"GET": Api.list_commitfiles}, RELEASE_SCOPES),
            (release + "/previous-with-commits/", {"GET": Api.previous_with_commits}, RELEASE_SCOPES),
            (r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/keys/", {"GET": Api.list_project_keys}, PROJECT_SCOPES),
            (r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/", {"GET": Api.get_project}, PROJECT_SCOPES),
            (r"/api/0/projects/(?P<org>[^/]+)/(?P<project>[^/]+)/releases/", {"GET": Api.list_project_releases},
             RELEASE_SCOPES),
        ]
        return [Route(re.compile(pattern + r"\Z"), handlers, scopes) for pattern, handlers, scopes in table]

    def handle(self, request: ApiRequest) -> Response:
        try:
            return self._dispatch(request)
        except HttpError as error:
            return Response(error.status, error.body, error.headers)
        except ParseError as error:
            return Response(400, {"detail": str(error)})
        except v.ServerBug:
            error = internal_error()
            return Response(error.status, error.body)

    def _dispatch(self, request: ApiRequest) -> Response:
        for route in self.routes:
            match = route.pattern.match(request.raw_path)
            if match is None:
                continue
            handler = route.handlers.get(request.method)
            if handler is None:
                raise detail(405, f'Method "{request.method}" not allowed.')
            params = {name: unquote(value) for name, value in match.groupdict().items()}
            with self.store.lock:
                caller = self.authenticate(request)
                if route.scopes is not None:
                    self.check_scopes(caller, route.scopes, request.method)
                if "org" in params:
                    self.check_org(caller, params["org"])
                return handler(self, request, caller, params)
        raise detail(404, NOT_FOUND)

    # --- auth (§5) ---------------------------------------------------------------------------

    def authenticate(self, request: ApiRequest) -> Caller:
        words = request.headers.get("authorization", "").split()
        if not words or words[0].lower() != "bearer":
            return Caller(None)
        if len(words) == 1:
            raise detail(401, "Invalid token header. No credentials provided.")
        if len(words) > 2:
            raise detail(401, "Invalid token header. Token string should not contain spaces.")
        token = self.store.tokens.get(words[1])
        if token is None:
            raise detail(401, "Invalid org token" if words[1].startswith("sntrys_") else "Invalid token")
        return Caller(token)

    def check_scopes(self, caller: Caller, scope_map: dict[str, set[str]], method: str) -> None:
        if caller.token is None:
            raise detail(401, "Authentication credentials were not provided.", {"WWW-Authenticate": 'xBasic realm="api"'})
        if not caller.has_any_scope(scope_map.get(method, set())):
            raise detail(403, NO_PERMISSION)

    def check_org(self, caller: Caller, key: str) -> Organization:
        org = self.store.find_org(key)
        if org is None:
            raise detail(404, NOT_FOUND)
        if caller.token is not None and caller.token.org is not None and caller.token.org is not org:
            raise detail(401, "Unauthorized organization access.")
        return org

    def visible_release(self, caller: Caller, params: dict[str, str]) -> Release:
        org = self.store.org(params["org"])
        release = self.store.find_release(org, params["version"])
        if release is None or not any(caller.can_access(project) for project in release.projects):
            raise detail(404, NOT_FOUND)
        return release

    # --- index and lookups -------------------------------------------------------------------

    def index(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        if caller.token is None:
            return Response(200, {"version": "0", "auth": None, "user": None})
        user = None if caller.token.is_org_token else _self_user_json()
        return Response(200, {"version": "0", "auth": {"scopes": list(caller.token.scopes)}, "user": user})

    def list_orgs(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        orgs = [org for org in self.store.orgs if caller.token and caller.token.org in (None, org)]
        return self._page(request, [_org_json(org) for org in orgs])

    def get_org(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        org = self.store.org(params["org"])
        body = _org_json(org)
        body["projects"] = [project.detail() for project in self.store.org_projects(org)]
        return Response(200, body)

    def list_projects(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        org = self.store.org(params["org"])
        return self._page(request, [project.detail() for project in self.store.org_projects(org)])

    def list_environments(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        org = self.store.org(params["org"])
        names = self.store.environments.get(org.id, [])
        return Response(200, [{"id": str(index + 1), "name": name} for index, name in enumerate(names)])

    def get_project(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        org = self.store.org(params["org"])
        for project in self.store.org_projects(org):
            if project.slug == params["project"] or str(project.id) == params["project"]:
                if caller.can_access(project):
                    return Response(200, project.detail())
        raise detail(404, NOT_FOUND)

    def list_project_keys(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        """The project's client keys (DSNs), paginated; the same 404 as the project for one the token cannot see."""
        org = self.store.org(params["org"])
        for project in self.store.org_projects(org):
            if project.slug == params["project"] and caller.can_access(project):
                return self._page(request, [_client_key_json(project, request.base_url)])
        raise detail(404, NOT_FOUND)

    def list_repos(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        org = self.store.org(params["org"])
        status = last_value(request.query, "status") or "active"
        query = (last_value(request.query, "query") or "").lower()
        repos = [
            repo
            for repo in self.store.repos
            if repo.org is org
            and ((repo.status == "active") == (status == "active"))
            and query in repo.name.lower()
        ]
        repos.sort(key=lambda repo: repo.name)
        return self._page(request, [repo.to_json() for repo in repos])

    def _page(self, request: ApiRequest, items: Sequence[Any]) -> Response:
        page, headers = paginate(items, request.query, request.base_url, unquote(request.raw_path))
        return Response(200, page, headers)

    # --- releases (§3.1–§3.4, §4.1, §4.2) ----------------------------------------------------

    def list_releases(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        org = self.store.org(params["org"])
        return self._release_list(request, org, self._project_filter(org, caller, request.query))

    def list_project_releases(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        """One project's releases (the path takes its slug): as the organization's list for that project,
        but open releases only, newest release date first."""
        org = self.check_org(caller, params["org"])
        project = next((p for p in self.store.org_projects(org) if p.slug == params["project"]), None)
        if project is None or not caller.can_access(project):
            raise detail(404, NOT_FOUND)
        return self._release_list(request, org, [project], by_release_date=True)

    def _release_list(self, request: ApiRequest, org: Organization, wanted: list[Project],
                      by_release_date: bool = False) -> Response:
        query = (last_value(request.query, "query") or "").lower()
        environments = {value for key, value in request.query if key == "environment"}
        releases = [
            release
            for release in self.store.org_releases(org)
            if any(project in wanted for project in release.projects)
            and query in release.version.lower()
            and (not environments or _deployed_to(release, environments, wanted))
        ]
        # 23.7.1 orders the organization's list by date_added and a project's (open releases only) by
        # COALESCE(date_released, date_added); deploy time moves a release in neither.
        if by_release_date:
            releases = [release for release in releases if release.status == "open"]
        releases.sort(key=lambda release: (release.sort_date if by_release_date else release.date_created, release.id),
                      reverse=True)
        return self._page(request, [release.to_json() for release in releases])

    def _project_filter(self, org: Organization, caller: Caller, query: Sequence[tuple[str, str]]) -> list[Project]:
        accessible = [project for project in self.store.org_projects(org) if caller.can_access(project)]
        keys = [value for key, value in query if key == "project"]
        if not keys or "-1" in keys:
            return accessible
        return [project for project in accessible if str(project.id) in keys or project.slug in keys]

    def _read_release_body(self, data: Mapping[str, Any], *, for_create: bool) -> dict[str, Any]:
        errors = v.Errors()
        by_index = self.store.nested_errors_by_index
        fields: dict[str, Any] = {}
        if for_create:
            fields["version"] = errors.read(data, "version", v.version_field, required=True)
            fields["projects"] = errors.read(data, "projects", v.list_of(), required=True)
        fields.update(
            ref=errors.read(data, "ref", v.char(max_length=200, allow_null=True, allow_blank=True)),
            url=errors.read(data, "url", v.url()),
            dateReleased=errors.read(data, "dateReleased", v.date_time()),
            commits=errors.read(data, "commits", v.list_of(v.nested(v.commit_reader(by_index)), index_errors=by_index)),
            status=errors.read(data, "status", v.status_field),
            owner=errors.read(data, "owner", self._owner_field),
            refs=errors.read(data, "refs", v.list_of(v.nested(v.read_ref), index_errors=by_index)),
            headCommits=errors.read(data, "headCommits", v.list_of(v.nested(v.read_head_commit), index_errors=by_index)),
        )
        if errors:
            raise HttpError(400, errors.detail)
        return v.present(fields)

    @staticmethod
    def _owner_field(value: Any) -> dict[str, Any] | None:
        if not value:
            return None
        if str(value) in (DEFAULT_USER["id"], DEFAULT_USER["username"]):
            return dict(DEFAULT_USER)
        raise v.FieldInvalid(["Unable to find user"])

    def create_release(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        org = self.store.org(params["org"])
        fields = self._read_release_body(request.body_object(), for_create=True)
        projects = self._requested_projects(org, caller, fields["projects"])
        release = self.store.find_release(org, fields["version"])
        existed = release is not None
        if release is None:
            release = self.store.create_release(
                org,
                fields["version"],
                ref=fields.get("ref") or None,
                url=fields.get("url") or None,
                date_released=fields.get("dateReleased"),
                owner=fields.get("owner"),
                status=fields.get("status") or "open",
                user_agent=(request.headers.get("user-agent") or "")[:256] or None,
            )
        else:
            self._check_release_projects_access(release, caller)
            if fields.get("status"):
                release.status = fields["status"]
        attached_new = self._attach(release, projects)
        self._apply_commits_and_refs(release, fields, clear_on_empty_refs=False)
        status = 208 if existed and not attached_new else 201
        return Response(status, release.to_json())

    def _requested_projects(self, org: Organization, caller: Caller, keys: list[Any]) -> list[Project]:
        accessible = [project for project in self.store.org_projects(org) if caller.can_access(project)]
        chosen: list[Project] = []
        for key in keys:
            match = next((project for project in accessible if _project_matches(project, key)), None)
            if match is None:
                raise HttpError(400, {"projects": ["Invalid project ids or slugs"]})
            chosen.append(match)
        return chosen

    @staticmethod
    def _check_release_projects_access(release: Release, caller: Caller) -> None:
        hidden = [project.slug for project in release.projects if not caller.can_access(project)]
        if hidden:
            raise HttpError(400, {"projects": [f"You do not have permission to one of the projects: {', '.join(hidden)}"]})

    @staticmethod
    def _attach(release: Release, projects: list[Project]) -> bool:
        attached_new = False
        for project in projects:
            if project not in release.projects:
                release.projects.append(project)
                attached_new = True
        return attached_new

    def _apply_commits_and_refs(self, release: Release, fields: dict[str, Any], *, clear_on_empty_refs: bool) -> None:
        commits = fields.get("commits") or []
        if commits:
            self.store.set_commits(release, commits)
        refs = fields.get("refs") or [
            {"repository": head["repository"], "commit": head["currentId"], "previousCommit": head.get("previousId")}
            for head in fields.get("headCommits") or []
        ]
        if refs:
            self.store.set_refs(release, refs, fetch=not commits)
        elif clear_on_empty_refs and fields.get("refs") == [] and not fields.get("headCommits"):
            release.commits = []
            release.head_commits = {}

    def get_release(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        release = self.visible_release(caller, params)
        body = release.to_json()
        if last_value(request.query, "project"):
            body["currentProjectMeta"] = self._current_project_meta(release, caller, request.query)
        return Response(200, body)

    def _current_project_meta(self, release: Release, caller: Caller, query: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """The neighbours of a release in the asked project (and environment), by date_added as 23.7.1."""
        wanted = self._project_filter(release.org, caller, query)
        environments = {value for key, value in query if key == "environment"}
        listed = sorted(
            (
                other
                for other in self.store.org_releases(release.org)
                if any(project in wanted for project in other.projects)
                and (not environments or _deployed_to(other, environments, wanted))
            ),
            key=lambda other: (other.date_created, other.id),
        )
        older = [other for other in listed if (other.date_created, other.id) < (release.date_created, release.id)]
        newer = [other for other in listed if (other.date_created, other.id) > (release.date_created, release.id)]
        return {
            "sessionsLowerBound": None,
            "sessionsUpperBound": None,
            "nextReleaseVersion": newer[0].version if newer else None,
            "prevReleaseVersion": older[-1].version if older else None,
            "firstReleaseVersion": listed[0].version if listed else None,
            "lastReleaseVersion": listed[-1].version if listed else None,
        }

    def update_release(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        release = self.visible_release(caller, params)
        fields = self._read_release_body(request.body_object(), for_create=False)
        # Only truthy values are written: null or "" never clears a field (§4.2).
        if fields.get("ref"):
            release.ref = fields["ref"]
        if fields.get("url"):
            release.url = fields["url"]
        if fields.get("dateReleased"):
            release.date_released = fields["dateReleased"]
        if fields.get("status") == "archived":
            release.status = "archived"  # "open" maps to 0, which is falsy: PUT cannot un-archive
        if fields.get("owner"):
            release.owner = fields["owner"]
        self._apply_commits_and_refs(release, fields, clear_on_empty_refs=True)
        return Response(200, release.to_json())

    def delete_release(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        release = self.visible_release(caller, params)
        self.store.releases.remove(release)
        return Response(204)

    # --- deploys (§3.5) ----------------------------------------------------------------------

    def create_deploy(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        release = self.visible_release(caller, params)
        data = request.body_object()
        errors = v.Errors()
        fields = v.present(
            {
                "environment": errors.read(data, "environment", v.environment_field, required=True),
                "name": errors.read(data, "name", v.char(max_length=64, allow_null=True, allow_blank=True)),
                "url": errors.read(data, "url", v.url()),
                "dateStarted": errors.read(data, "dateStarted", v.date_time()),
                "dateFinished": errors.read(data, "dateFinished", v.date_time()),
                "projects": errors.read(data, "projects", lambda value: self._deploy_projects(release.org, caller, value)),
            }
        )
        if errors:
            raise HttpError(400, errors.detail)
        projects = fields.get("projects") or list(release.projects)
        outsiders = [project.slug for project in projects if project not in release.projects]
        if outsiders:
            raise detail(
                400,
                {
                    "code": "parameter-validation-error",
                    "message": f"Invalid projects ({', '.join(outsiders)}) for release {release.version}",
                    "extra": {"context": ""},
                },
            )
        if "dateFinished" in fields and fields["dateFinished"] is None:
            raise internal_error()  # Deploy.date_finished is NOT NULL (§3.5)
        deploy = Deploy(
            id=self.store.next_id("deploy"),
            release=release,
            environment=fields["environment"],
            name=fields.get("name"),
            url=fields.get("url"),
            date_started=fields.get("dateStarted"),
            date_finished=fields.get("dateFinished") or utcnow(),
            projects=projects,
        )
        release.deploys.append(deploy)
        known = self.store.environments.setdefault(release.org.id, [])
        if deploy.environment not in known:
            known.append(deploy.environment)
        return Response(201, deploy.to_json())

    def _deploy_projects(self, org: Organization, caller: Caller, value: Any) -> list[Project]:
        items = v.list_of(allow_empty=False)(value)
        chosen = []
        for item in items:
            project = next((p for p in self.store.org_projects(org) if p.slug == str(item) or str(p.id) == str(item)), None)
            if project is None:
                raise v.FieldInvalid(["Invalid project"])
            if not caller.can_access(project):
                raise v.FieldInvalid(["Insufficient access to project"])
            chosen.append(project)
        return chosen

    def list_deploys(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        release = self.visible_release(caller, params)
        deploys = list(release.deploys)
        if self.store.deploys_latest_only:
            deploys = _latest_per_project_environment(deploys)
        deploys.sort(key=lambda deploy: (deploy.date_finished, deploy.id), reverse=True)
        return self._page(request, [deploy.to_json() for deploy in deploys])

    # --- commits (§4.3, §4.4) ----------------------------------------------------------------

    def list_commits(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        release = self.visible_release(caller, params)
        return self._page(request, [commit.to_json(release) for commit in release.commits])

    def list_commitfiles(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        release = self.visible_release(caller, params)
        commits = release.commits
        repo_name = last_value(request.query, "repo_name")
        repo_id = last_value(request.query, "repo_id")
        if repo_name is not None or repo_id is not None:
            repo = next(
                (
                    r
                    for r in self.store.repos
                    if r.org is release.org and (r.name == repo_name or (repo_id is not None and str(r.id) == repo_id))
                ),
                None,
            )
            if repo is None:
                raise detail(404, NOT_FOUND)
            commits = [commit for commit in commits if commit.repository is repo]
        files = [_commit_file_json(release, commit, change) for commit in commits for change in commit.patch_set]
        files.sort(key=lambda item: item["filename"])
        for index, item in enumerate(files, start=1):
            item["id"] = str(index)
        return self._page(request, files)

    def previous_with_commits(self, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        base = self.visible_release(caller, params)
        wanted = self._project_filter(base.org, caller, request.query)
        shared = [project for project in base.projects if project in wanted]
        if not shared:
            return Response(200, {})
        candidates = [
            release
            for release in self.store.org_releases(base.org)
            if release.commits
            and any(project in shared for project in release.projects)
            and release.sort_date <= base.sort_date
        ]
        if not candidates:
            return Response(200, {})
        best = max(candidates, key=lambda release: (release.sort_date, release.id))
        return Response(200, best.to_json())


def _project_matches(project: Project, key: Any) -> bool:
    if isinstance(key, bool):
        return False
    if isinstance(key, int):
        return project.id == key
    return isinstance(key, str) and project.slug == key  # "42" does not match id 42


def _deployed_to(release: Release, environments: set[str], projects: Sequence[Project]) -> bool:
    """Whether one of these projects had this release deployed to one of these environments."""
    return any(
        deploy.environment in environments and any(project in projects for project in deploy.projects)
        for deploy in release.deploys
    )


def _latest_per_project_environment(deploys: list[Deploy]) -> list[Deploy]:
    latest: dict[tuple[int, str], Deploy] = {}
    for deploy in deploys:
        for project in deploy.projects:
            key = (project.id, deploy.environment)
            if key not in latest or deploy.id > latest[key].id:
                latest[key] = deploy
    unique = {deploy.id: deploy for deploy in latest.values()}
    return list(unique.values())


def _commit_file_json(release: Release, commit: Commit, change: Mapping[str, str]) -> dict[str, Any]:
    return {
        "id": "",
        "orgId": release.org.id,
        "author": commit.author() or {},
        "commitMessage": commit.message,
        "filename": change["path"],
        "type": change["type"],
        "repoName": commit.repository.name,
    }


def _client_key_json(project: Project, base_url: str) -> dict[str, Any]:
    """A client key as Sentry 23.7.1 lists it (GET /projects/{org}/{project}/keys/)."""
    scheme, host = base_url.split("://", 1)
    public, secret, pid = project.public_key, project.secret_key, project.id
    return {
        "id": public, "name": "Default", "label": "Default", "public": public, "secret": secret,
        "projectId": pid, "isActive": project.key_active, "rateLimit": None,
        "dsn": {
            "secret": f"{scheme}://{public}:{secret}@{host}/{pid}",
            "public": f"{scheme}://{public}@{host}/{pid}",
            "csp": f"{base_url}/api/{pid}/csp-report/?sentry_key={public}",
            "security": f"{base_url}/api/{pid}/security/?sentry_key={public}",
            "minidump": f"{base_url}/api/{pid}/minidump/?sentry_key={public}",
            "unreal": f"{base_url}/api/{pid}/unreal/{public}/",
            "cdn": f"{base_url}/js-sdk-loader/{public}.min.js",
        },
        "browserSdkVersion": "7.x", "browserSdk": {"choices": [["latest", "latest"], ["7.x", "7.x"]]},
        "dateCreated": "2024-01-01T00:00:00.000000Z",
        "dynamicSdkLoaderOptions": {"hasReplay": True, "hasPerformance": True, "hasDebug": False},
    }


def _self_user_json() -> dict[str, Any]:
    """The token owner as ``GET /api/0/`` shows it: the detailed self-user form (keys as on 23.7.1)."""
    email = DEFAULT_USER["email"]
    joined = "2024-01-01T00:00:00Z"
    return {
        **DEFAULT_USER,
        "avatarUrl": None,
        "isActive": True,
        "hasPasswordAuth": True,
        "isManaged": False,
        "dateJoined": joined,
        "lastLogin": None,
        "has2fa": False,
        "lastActive": joined,
        "isSuperuser": False,
        "isStaff": False,
        "experiments": {},
        "emails": [{"id": DEFAULT_USER["id"], "email": email, "is_verified": True}],
        "options": {"theme": "light", "language": "en", "stacktraceOrder": -1, "timezone": "UTC", "clock24Hours": False},
        "flags": {"newsletter_consent_prompt": False},
        "avatar": {"avatarType": "letter_avatar", "avatarUuid": None},
        "identities": [],
    }


def _org_json(org: Organization) -> dict[str, Any]:
    return {"id": str(org.id), "slug": org.slug, "name": org.name, "dateCreated": iso(utcnow()), "status": {"id": "active", "name": "active"}}
