"""Release health in the emulator: issues with a first release, and session counts per release.

What `sentry-release watch` reads (shared/sentry-api/LIFECYCLE.md "Health after a deploy"):
- `GET …/releases/{v}/?health=1&summaryStatsPeriod=…&environment=…`: `newGroups` (top level and per
  project, counted in the environment when one is given) and per project `healthData`;
- `GET /organizations/{org}/issues/?project=<id>&environment=…&query=firstRelease:… firstSeen:>=…`
  (scope `event:read`, which deploy tokens lack: 403), with the total in `X-Hits`.
The issues path is not in the published spec subset (the contract layer notes it and checks
nothing), so its parameters are checked here: numeric `project` ids, `limit` up to 100 and only
the search terms modelled; anything else answers 400 as Sentry does for a bad query.

Seed data in tests with `add_issue(emu.store, …)` and `set_sessions(emu.store, …)`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .state import Project, Release, iso, utcnow

if TYPE_CHECKING:
    from .api import Api, ApiRequest, Caller, Handler, Response, Store

ISSUE_SCOPES = {"GET": {"event:read", "event:write", "event:admin"}}
STATS_PERIODS = ("1h", "24h", "1d", "48h", "2d", "7d", "14d", "30d", "90d")  # checked with or without health=1
_TERM = re.compile(r'(\w+):(>=|<=|>|<)?("(?:[^"\\]|\\.)*"|\S+)')


@dataclass
class Group:
    id: int
    project: Project
    title: str
    first_release: str
    environment: str
    first_seen: datetime

    def to_json(self, base_url: str) -> dict[str, Any]:
        org = self.project.org.slug
        return {
            "id": str(self.id),
            "shortId": f"{self.project.slug.upper()}-{self.id}",
            "title": self.title,
            "culprit": "",
            "permalink": f"{base_url}/organizations/{org}/issues/{self.id}/",
            "level": "error",
            "status": "unresolved",
            "count": "1",
            "userCount": 0,
            "firstSeen": iso(self.first_seen),
            "lastSeen": iso(self.first_seen),
            "project": {"id": str(self.project.id), "name": self.project.slug, "slug": self.project.slug,
                        "platform": self.project.platform},
        }


@dataclass
class Sessions:
    total: int
    crashed: int
    errored: int = 0


@dataclass
class Health:
    groups: list[Group] = field(default_factory=list)
    sessions: dict[tuple[int, str, str], Sessions] = field(default_factory=dict)  # (project id, version, env)


def add_issue(store: Store, project: Project, release: str, environment: str, title: str,
              first_seen: datetime | None = None) -> Group:
    """A group whose first event came from `release` in `environment` (default: now)."""
    with store.lock:
        group = Group(store.next_id("group"), project, title, release, environment, first_seen or utcnow())
        store.health.groups.append(group)
        return group


def set_sessions(store: Store, project: Project, release: str, environment: str, total: int, crashed: int) -> None:
    with store.lock:
        store.health.sessions[(project.id, release, environment)] = Sessions(total, crashed)


# --- release details with health ---------------------------------------------------------------

def with_health(handler: Handler) -> Handler:
    """The release details handler, plus what Sentry adds: `newGroups` counted in the asked
    environment(s) and, with `health=1`, per project `healthData`; bad stats periods answer 400."""

    def get_release(api: Api, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
        response = handler(api, request, caller, params)  # an unknown release is a 404 first
        _check_periods(request.query)
        release = api.visible_release(caller, params)
        _add_health(api.store, release, request.query, response.body)
        return response
    return get_release


def _check_periods(query: Sequence[tuple[str, str]]) -> None:
    from .api import detail

    for name in ("summaryStatsPeriod", "healthStatsPeriod"):
        given = [value for key, value in query if key == name]
        if given and given[-1] not in STATS_PERIODS:
            choices = ", ".join(f"'{period}'" for period in STATS_PERIODS)
            raise detail(400, f"Invalid {name}. Valid choices are {choices}")


def _add_health(store: Store, release: Release, query: Sequence[tuple[str, str]], body: dict[str, Any]) -> None:
    environments = {value for key, value in query if key == "environment"}
    with_health = any(key == "health" and value == "1" for key, value in query)
    total = 0
    for summary, project in zip(body["projects"], release.projects):
        count = sum(1 for g in store.health.groups if g.project is project and g.first_release == release.version
                    and (not environments or g.environment in environments))
        summary["newGroups"] = count
        total += count
        sessions = [s for (pid, version, env), s in store.health.sessions.items()
                    if pid == project.id and version == release.version and (not environments or env in environments)]
        summary["hasHealthData"] = any(s.total for s in sessions)
        if with_health:
            summary["healthData"] = _health_data(sessions)
    body["newGroups"] = total


def _health_data(sessions: Sequence[Sessions]) -> dict[str, Any]:
    total = sum(s.total for s in sessions)
    crashed = sum(s.crashed for s in sessions)
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    hours = [int((now - timedelta(hours=23 - index)).timestamp()) for index in range(24)]
    return {
        "durationP50": None, "durationP90": None,
        "crashFreeUsers": None,
        "crashFreeSessions": 100.0 * (total - crashed) / total if total else None,
        "sessionsCrashed": crashed,
        "sessionsErrored": sum(s.errored for s in sessions),
        "totalUsers": 0, "totalUsers24h": None, "totalProjectUsers24h": None,
        "totalSessions": total, "totalSessions24h": None, "totalProjectSessions24h": None,
        "adoption": None, "sessionsAdoption": None,
        "stats": {"24h": [[hour, 0] for hour in hours]},
        "hasHealthData": total > 0,
    }


# --- the issue stream ---------------------------------------------------------------------------

def list_issues(api: Api, request: ApiRequest, caller: Caller, params: dict[str, str]) -> Response:
    from .api import HttpError, Response, detail

    org = api.store.org(params["org"])
    keys = [value for key, value in request.query if key == "project"]
    if not all(key.lstrip("-").isdecimal() for key in keys):
        raise detail(400, "Invalid project parameter. Values must be numbers.")
    projects = [p for p in api.store.org_projects(org) if str(p.id) in keys or not keys or "-1" in keys]
    if any(not caller.can_access(p) for p in projects) or (keys and "-1" not in keys and len(projects) < len(set(keys))):
        raise detail(403, "You do not have permission to perform this action.")
    limit = _limit(request.query)
    environments = {value for key, value in request.query if key == "environment"}
    terms = _search_terms(" ".join(value for key, value in request.query if key == "query"))
    found = [g for g in api.store.health.groups if g.project in projects
             and (not environments or g.environment in environments) and _matches(g, terms)]
    found.sort(key=lambda g: (g.first_seen, g.id), reverse=True)
    if limit is None:
        raise HttpError(400, {"detail": "Invalid limit"})
    body = [group.to_json(request.base_url) for group in found[:limit]]
    return Response(200, body, {"X-Hits": str(len(found)), "X-Max-Hits": "1000"})


def _limit(query: Sequence[tuple[str, str]]) -> int | None:
    raw = [value for key, value in query if key == "limit"]
    if not raw:
        return 25
    return int(raw[-1]) if raw[-1].isdecimal() and 1 <= int(raw[-1]) <= 100 else None


def _search_terms(text: str) -> list[tuple[str, str, str]]:
    from .api import detail

    terms: list[tuple[str, str, str]] = []
    rest = _TERM.sub(lambda m: terms.append((m.group(1), m.group(2) or "", _unquote(m.group(3)))) or "", text)
    if rest.strip():
        raise detail(400, f"Invalid search query: {rest.strip()!r} is not modelled by the emulator")
    for name, operator, value in terms:
        if name not in ("firstRelease", "firstSeen") or (name == "firstRelease" and operator):
            raise detail(400, f"Invalid search query: {name}:{operator}{value} is not modelled by the emulator")
        if name == "firstSeen" and _when(value) is None:
            raise detail(400, f"Invalid format for date field: {value}")
    return terms


def _unquote(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value[1:-1]) if value.startswith('"') and value.endswith('"') else value


def _when(value: str) -> datetime | None:
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _matches(group: Group, terms: Sequence[tuple[str, str, str]]) -> bool:
    for name, operator, value in terms:
        if name == "firstRelease" and group.first_release != value:
            return False
        if name == "firstSeen":
            moment = _when(value)
            assert moment is not None
            compare: Mapping[str, bool] = {
                ">=": group.first_seen >= moment, ">": group.first_seen > moment,
                "<=": group.first_seen <= moment, "<": group.first_seen < moment, "": group.first_seen == moment,
            }
            if not compare[operator]:
                return False
    return True
