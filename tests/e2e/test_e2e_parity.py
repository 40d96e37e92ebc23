"""Parity: the loopback emulator against a real Sentry 23.7.1, request by request.

Each scenario is a short list of API requests. It runs against the real server (a fresh project
from `e2e_project`, in the server's org) and against a fresh in-process `SentryEmulator` set up
with the same org and project slugs and ids and the same two tokens with the same scopes. Status
codes and error bodies are compared after normalising ids, dates and base URLs; success bodies
are compared by their key sets.

The emulator's defaults follow RULES.md (modern Sentry). Where 23.7.1 answers the way RULES.md
documents for older servers, the scenario names the emulator switch that selects that behaviour
(SWITCHED); the parity run turns the switch on, and a second run with the default proves the
documented difference is still there. Every other difference is listed in KNOWN_DIFFERENCES
with its reason and the exact answers of both sides, so the test fails when a difference
disappears, changes, or a new one appears.

Set PARITY_SHOW=1 to print both sides' observations.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import httpx
import pytest

from emulator.contract import ContractChecker
from emulator.server import SentryEmulator

from .harness import Project, SentryApi, SentryServer

pytestmark = pytest.mark.e2e

SHA_A = "a" * 40
SHA_B = "b" * 40
BAD_TOKEN = "0" * 64


# ---- scenarios -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One request. In `path` and string values of `body`: $ORG $PROJECT $PID $V $V2 $V3 $SERIAL.

    compare: "body" (status + normalised body), "keys" (status + key sets, and the version
    of a release), "status", "link" (status + normalised Link header), "index" (GET /api/0/),
    "life" (status + what the release lifecycle depends on: see `life_view`).
    """

    method: str
    path: str
    body: Any = None
    token: str = "full"  # full | ro | bad | none
    compare: str = "body"


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: Tuple[Step, ...]


RELEASES = "organizations/$ORG/releases/"
RELEASE = "organizations/$ORG/releases/$V/"


def create(version: Any = "$V", compare: str = "keys", **extra: Any) -> Step:
    return Step("POST", RELEASES, {"version": version, "projects": ["$PROJECT"], **extra}, compare=compare)


def put(body: Any, compare: str = "body", version: str = "$V") -> Step:
    return Step("PUT", f"organizations/$ORG/releases/{version}/", body, compare=compare)


def deploy(body: Any, compare: str = "body") -> Step:
    return Step("POST", RELEASE + "deploys/", body, compare=compare)


def commit(sha: str = SHA_A, **fields: Any) -> Dict[str, Any]:
    return {"id": sha, "repository": "parity/repo-$SERIAL", "message": "change",
            "timestamp": "2024-01-16T10:00:00Z", **fields}


def deploy_to(environment: str, name: str, version: str = "$V", compare: str = "status", **fields: Any) -> Step:
    return Step("POST", f"organizations/$ORG/releases/{version}/deploys/",
                {"environment": environment, "name": name, **fields}, compare=compare)


def life(path: str) -> Step:
    return Step("GET", path, compare="life")


def listed(environment: Optional[str] = None) -> Step:
    return life(RELEASES + "?project=$PID" + (f"&environment={environment}" if environment else ""))


def project_listed(environment: str) -> Step:
    """The project-scoped list that deploy reads to find an environment's newest deploy."""
    return life(f"projects/$ORG/$PROJECT/releases/?environment={environment}&per_page=100")


def bad_version(name: str, version: Any) -> Scenario:
    return Scenario(f"version-{name}", (create(version, compare="body"),))


SCENARIOS: List[Scenario] = [
    Scenario("create-201-then-208", (create(), create())),
    bad_version("latest", "latest"),
    bad_version("Latest", "Latest"),
    bad_version("slash", "a/b"),
    bad_version("dot", "."),
    bad_version("dotdot", ".."),
    bad_version("spaces", "   "),
    bad_version("newline", "a\nb"),
    bad_version("tab", "a\tb"),
    bad_version("backslash", "a\\b"),
    bad_version("201-chars", "x" * 201),
    bad_version("blank", ""),
    Scenario("version-exactly-200", (create("$V200"),)),
    Scenario("create-missing-projects", (Step("POST", RELEASES, {"version": "$V"}),)),
    Scenario("create-unknown-project",
             (Step("POST", RELEASES, {"version": "$V", "projects": ["no-such-project-$SERIAL"]}),)),
    Scenario("commits-ok", (create(), put({"commits": [commit()]}, compare="keys"),
                            Step("GET", RELEASE + "commits/", compare="keys"))),
    Scenario("commits-read-back",
             (create(), put({"commits": [commit(SHA_A, author_name="Ann Example", timestamp="2024-01-15T10:00:00Z"),
                                         commit(SHA_B, author_email="bob@example.com",
                                                patch_set=[{"path": "a.txt", "type": "M"}])]}),
              Step("GET", RELEASE + "commits/"), Step("GET", RELEASE + "commitfiles/"), Step("GET", RELEASE))),
    Scenario("commits-null-message", (create(), put({"commits": [commit(message=None)]}))),
    Scenario("create-with-project-id", (Step("POST", RELEASES, {"version": "$V", "projects": ["$PID_INT"]},
                                             compare="keys"),)),
    Scenario("refs-range-with-two-dotdots",
             (create(), put({"commits": [commit()]}, compare="status"),
              put({"refs": [{"repository": "parity/repo-$SERIAL", "commit": "a..b..c"}]}))),
    Scenario("refs-range-empty-half",
             (create(), put({"refs": [{"repository": "parity/repo-$SERIAL", "commit": "..abc"}]}))),
    Scenario("refs-commit-too-long",
             (create(), put({"refs": [{"repository": "parity/repo-$SERIAL", "commit": "c" * 65}]}))),
    Scenario("refs-known-repository-without-integration",
             (create(), put({"commits": [commit()]}, compare="status"),
              put({"refs": [{"repository": "parity/repo-$SERIAL", "commit": SHA_B, "previousCommit": SHA_A}]},
                  compare="keys"),
              Step("GET", RELEASE + "commits/", compare="keys"))),
    Scenario("refs-empty-list-clears-commits",
             (create(), put({"commits": [commit()]}, compare="status"), put({"refs": []}, compare="keys"),
              Step("GET", RELEASE + "commits/", compare="keys"))),
    Scenario("release-body", (create(compare="body", ref="main", url="https://example.com/r"),
                              Step("GET", RELEASE))),
    Scenario("commits-missing-id", (create(), put({"commits": [{"repository": "parity/repo-$SERIAL",
                                                                 "message": "no id"}]}))),
    Scenario("commits-bad-patch-set-type",
             (create(), put({"commits": [commit(patch_set=[{"path": "a.txt", "type": "R"}])]}))),
    Scenario("commits-long-id", (create(), put({"commits": [commit("c" * 65)]}))),
    Scenario("commits-mixing-timestamps",
             (create(), put({"commits": [commit(SHA_A), {"id": SHA_B, "repository": "parity/repo-$SERIAL",
                                                          "message": "no timestamp"}]}))),
    Scenario("create-with-commits-missing-id",
             (create(compare="body", commits=[{"message": "no id"}]),)),
    Scenario("refs-unknown-repository",
             (create(), put({"refs": [{"repository": "parity/unknown-$SERIAL", "commit": SHA_A}]}))),
    Scenario("finalize", (create(), put({"dateReleased": "2024-01-16T10:00:00Z"}, compare="keys"))),
    Scenario("finalize-bad-date", (create(), put({"dateReleased": "yesterday"}))),
    Scenario("finalize-unknown-release", (put({"dateReleased": "2024-01-16T10:00:00Z"}),)),
    Scenario("deploy-ok", (create(), deploy({"environment": "production"}, compare="keys"))),
    Scenario("deploy-missing-environment", (create(), deploy({"name": "no env"}))),
    Scenario("deploy-blank-environment", (create(), deploy({"environment": ""}))),
    Scenario("deploy-slash-environment", (create(), deploy({"environment": "bad/env"}))),
    Scenario("deploy-65-char-environment", (create(), deploy({"environment": "e" * 65}))),
    Scenario("deploy-bad-url", (create(), deploy({"environment": "production", "url": "https://x"}))),
    Scenario("deploy-unknown-project",
             (create(), deploy({"environment": "production", "projects": ["no-such-project-$SERIAL"]}))),
    Scenario("deploy-unknown-release", (deploy({"environment": "production"}),)),
    Scenario("deploy-body", (create(), deploy({"environment": "production", "name": "n",
                                               "url": "https://example.com/d",
                                               "dateStarted": "2024-01-16T10:00:00Z",
                                               "dateFinished": "2024-01-16T10:05:00Z"}),
                             deploy({"environment": " staging\n"}), Step("GET", RELEASE))),
    Scenario("deploy-null-date-finished",
             (create(), deploy({"environment": "production", "dateFinished": None}))),
    Scenario("deploys-listed-after-two",
             (create(), deploy({"environment": "production", "name": "first"}, compare="keys"),
              deploy({"environment": "production", "name": "second"}, compare="keys"),
              Step("GET", RELEASE + "deploys/", compare="keys"))),
    Scenario("previous-with-commits-none",
             (create(), Step("GET", RELEASE + "previous-with-commits/", compare="keys"))),
    Scenario("previous-with-commits-one",
             (create(commits=[commit()]), create("$V2"),
              Step("GET", "organizations/$ORG/releases/$V2/previous-with-commits/", compare="keys"))),
    # The release lifecycle (shared/sentry-api/LIFECYCLE.md): what per-environment ranges rest on.
    Scenario("lifecycle-environment-lists",
             (create(compare="status"), create("$V2", compare="status"), create("$V3", compare="status"),
              deploy_to("staging", "s1"), deploy_to("production", "p1"), deploy_to("staging", "s2", "$V2"),
              deploy_to("production", "p3", "$V3"),
              listed("production"), listed("staging"),
              deploy_to("production", "p1-rollback"), put({"dateReleased": "2030-01-01T00:00:00Z"}, compare="status"),
              listed("production"), listed(), life(RELEASE), life(RELEASE + "deploys/"),
              project_listed("production"), project_listed("staging"))),
    Scenario("lifecycle-previous-with-commits-by-release-date",
             (create(commits=[commit(SHA_A)], compare="status"), create("$V2", commits=[commit(SHA_B)], compare="status"),
              deploy_to("staging", "s2", "$V2"), deploy_to("production", "p1"),
              put({"dateReleased": "2000-01-01T00:00:00Z"}, compare="status", version="$V2"),
              put({"dateReleased": "2001-01-01T00:00:00Z"}, compare="status"),
              create("$V3", compare="status"),
              life("organizations/$ORG/releases/$V3/previous-with-commits/"),
              life("organizations/$ORG/releases/$V3/previous-with-commits/?environment=staging&project=$PID"),
              put({"dateReleased": "2999-01-01T00:00:00Z"}, compare="status"),
              life("organizations/$ORG/releases/$V3/previous-with-commits/"))),
    Scenario("lifecycle-ref-kept-on-208",
             (create(ref=SHA_A, compare="life"), create(ref=SHA_B, compare="life"),
              put({"ref": SHA_B}, compare="life"), listed())),
    Scenario("lifecycle-one-commit-list-replaced-by-each-upload",
             (create(commits=[commit(SHA_A), commit(SHA_B, timestamp="2024-01-16T11:00:00Z")], compare="life"),
              life(RELEASE + "commits/"),
              put({"commits": [commit("c" * 40)]}, compare="life"), life(RELEASE + "commits/"),
              put({"refs": [{"repository": "parity/repo-$SERIAL", "commit": SHA_B, "previousCommit": SHA_A}]},
                  compare="life"),
              life(RELEASE + "commits/"))),
    Scenario("lifecycle-current-project-meta",
             (create(compare="status"), create("$V2", compare="status"), create("$V3", compare="status"),
              deploy_to("production", "p1"), deploy_to("staging", "s2", "$V2"), deploy_to("production", "p3", "$V3"),
              life("organizations/$ORG/releases/$V3/?project=$PID&environment=production"),
              life("organizations/$ORG/releases/$V3/?project=$PID&environment=staging"),
              life("organizations/$ORG/releases/$V3/?project=$PID"),
              life("organizations/$ORG/releases/$V/?project=$PID&environment=production"),
              life("organizations/$ORG/releases/$V2/?project=$PID&environment=staging"))),
    Scenario("lifecycle-deploys-newest-first",
             (create(compare="status"),
              deploy_to("production", "first", dateStarted="2024-01-02T00:00:00Z", dateFinished="2024-01-02T00:05:00Z",
                        url="https://example.com/d/1", compare="life"),
              deploy_to("staging", "older", dateFinished="2020-01-01T00:00:00Z", compare="life"),
              deploy_to("qa", "now", compare="life"),
              life(RELEASE + "deploys/"), life(RELEASE), listed())),
    Scenario("index-no-token", (Step("GET", "", token="none"),)),
    Scenario("index-full-token", (Step("GET", "", compare="index"),)),
    Scenario("index-read-only-token", (Step("GET", "", token="ro", compare="index"),)),
    Scenario("bad-token-401", (Step("GET", RELEASES, token="bad"),
                               Step("POST", RELEASES, {"version": "$V", "projects": ["$PROJECT"]}, token="bad"))),
    Scenario("no-token-401", (Step("GET", RELEASES, token="none"),)),
    Scenario("read-only-token-403-on-create",
             (Step("POST", RELEASES, {"version": "$V", "projects": ["$PROJECT"]}, token="ro"),)),
    Scenario("unknown-org-404", (Step("GET", "organizations/no-such-org-$SERIAL/releases/"),
                                 Step("POST", "organizations/no-such-org-$SERIAL/releases/",
                                      {"version": "$V", "projects": ["$PROJECT"]}))),
    Scenario("unknown-release-404", (Step("GET", RELEASE),)),
    # watch (issue 14): the health read a deploy token can do, and the issue stream it cannot
    Scenario("release-health-in-environment",
             (create(), deploy({"environment": "production"}, compare="status"),
              Step("GET", RELEASE + "?health=1&summaryStatsPeriod=1h&environment=production"),
              Step("GET", RELEASE + "?health=1&summaryStatsPeriod=5m&environment=production"))),
    Scenario("issues-need-event-read",
             (Step("GET", "organizations/$ORG/issues/?project=$PID&environment=production&query=firstRelease:$V"),
              Step("GET", "organizations/$ORG/issues/?project=$PID&query=firstRelease:$V", token="ro"))),
    Scenario("repos-link-header", (Step("GET", "organizations/$ORG/repos/", compare="link"),)),
    Scenario("releases-link-header",
             (create(), create("$V2"),
              Step("GET", RELEASES + "?project=$PID", compare="link"),
              Step("GET", RELEASES + "?project=$PID&per_page=1", compare="link"),
              Step("GET", RELEASES + "?project=$PID&per_page=1&cursor=1:1:0", compare="link"))),
]


# ---- documented and known differences ----------------------------------------------------------

@dataclass(frozen=True)
class Switch:
    """An emulator switch that selects 23.7.1's behaviour, documented as such in RULES.md/README."""

    attribute: str
    value: Any
    reason: str


DEPLOYS_ALL = Switch(
    "deploys_latest_only", False,
    "RULES.md §3.5: modern Sentry lists only the latest deploy per (project, environment); "
    "23.7.1 lists every deploy, so the parity run turns the emulator's switch off.")
ERRORS_WITHOUT_INDEX = Switch(
    "nested_errors_by_index", False,
    "RULES.md §3.3 keys nested commit (and ref) errors by list index ({\"commits\": {\"0\": …}}); "
    "23.7.1 answers {\"commits\": {…}} without the index (real-sentry README).")

SWITCHED: Dict[str, Tuple[Switch, ...]] = {
    "deploys-listed-after-two": (DEPLOYS_ALL,),
    "lifecycle-environment-lists": (DEPLOYS_ALL,),
    "commits-missing-id": (ERRORS_WITHOUT_INDEX,),
    "commits-bad-patch-set-type": (ERRORS_WITHOUT_INDEX,),
    "commits-long-id": (ERRORS_WITHOUT_INDEX,),
    "create-with-commits-missing-id": (ERRORS_WITHOUT_INDEX,),
    "refs-range-empty-half": (ERRORS_WITHOUT_INDEX,),
    "refs-commit-too-long": (ERRORS_WITHOUT_INDEX,),
}


RELEASE_KEYS = ["authors", "commitCount", "currentProjectMeta", "data", "dateCreated", "dateReleased",
                "deployCount", "firstEvent", "id", "lastCommit", "lastDeploy", "lastEvent", "newGroups",
                "owner", "projects", "ref", "shortVersion", "status", "url", "userAgent", "version",
                "versionInfo"]


@dataclass(frozen=True)
class Known:
    """A difference that stays, with its reason.

    steps: step index -> (what the real server answers, what the emulator answers), exactly.
    emulator_only_keys: keys the emulator's bodies carry and the real server's never do; the
    rest of both answers must then be equal.
    """

    reason: str
    steps: Dict[int, Tuple[Any, Any]] = field(default_factory=dict)
    emulator_only_keys: Tuple[str, ...] = ()


PROJECT_SLUGS_ONLY = (
    "23.7.1 looks up `projects` on release creation by slug only and answers \"Invalid project slugs\"; "
    "RULES.md §3.2 (modern server code) also matches integer project ids and answers \"Invalid project "
    "ids or slugs\". The emulator follows RULES.md; the tool sends slugs, which both accept.")

KNOWN_DIFFERENCES: Dict[str, Known] = {
    "create-unknown-project": Known(
        PROJECT_SLUGS_ONLY,
        steps={0: ((400, {"projects": ["Invalid project slugs"]}),
                   (400, {"projects": ["Invalid project ids or slugs"]}))}),
    "create-with-project-id": Known(
        PROJECT_SLUGS_ONLY,
        steps={0: ((400, {"keys": ["projects"], "version": None}),
                   (201, {"keys": RELEASE_KEYS, "version": "$V"}))}),
    "commits-read-back": Known(
        "Repository objects: modern Sentry's RepositorySerializer adds `externalId`; 23.7.1 has no such "
        "key. The emulator keeps the modern form; the tool never reads it.",
        emulator_only_keys=("externalId",)),
}


def has_key(value: Any, keys: Tuple[str, ...]) -> bool:
    if isinstance(value, dict):
        return any(key in keys for key in value) or any(has_key(item, keys) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_key(item, keys) for item in value)
    return False


def without_keys(value: Any, keys: Tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {key: without_keys(item, keys) for key, item in value.items() if key not in keys}
    if isinstance(value, list):
        return [without_keys(item, keys) for item in value]
    if isinstance(value, tuple):
        return tuple(without_keys(item, keys) for item in value)
    return value


# ---- running a scenario ------------------------------------------------------------------------

@dataclass
class Side:
    """One server and what a scenario's placeholders mean there."""

    name: str
    url: str
    tokens: Dict[str, Optional[str]]
    values: Dict[str, str]
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=f"{self.url}/api/0/", timeout=30)

    def close(self) -> None:
        self.client.close()

    def fill(self, value: Any) -> Any:
        if value == "$PID_INT":
            return int(self.values["$PID"])
        if isinstance(value, str):
            for key in sorted(self.values, key=len, reverse=True):
                value = value.replace(key, self.values[key])
            return value
        if isinstance(value, list):
            return [self.fill(item) for item in value]
        if isinstance(value, dict):
            return {key: self.fill(item) for key, item in value.items()}
        return value

    def send(self, step: Step) -> httpx.Response:
        token = self.tokens[step.token]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kwargs: Dict[str, Any] = {"headers": headers}
        if step.body is not None:
            kwargs["json"] = self.fill(step.body)
        path = self.fill(step.path)
        for attempt in range(5):
            response = self.client.request(step.method, path, **kwargs)
            if response.status_code != 429:
                return response
            time.sleep(float(response.headers.get("Retry-After") or 1 + attempt))
        return response


DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?")
# A server names itself by its own URL prefix, which need not be the URL the tests reach it by (a
# proxy, another port): every loopback origin stands for "the server".
LOOPBACK_ORIGIN = re.compile(r"https?://(?:127\.0\.0\.1|localhost)(?::\d+)?")
LOOPBACK_HOST = re.compile(r"(?:127\.0\.0\.1|localhost)(?::\d+)?")
ID_KEYS = {"id", "errorId"}


def normalise(value: Any, side: Side) -> Any:
    if isinstance(value, dict):
        return {key: "<id>" if key in ID_KEYS and isinstance(item, (str, int)) else normalise(item, side)
                for key, item in value.items()}
    if isinstance(value, list):
        return [normalise(item, side) for item in value]
    if isinstance(value, str):
        value = LOOPBACK_ORIGIN.sub("<URL>", value.replace(side.url, "<URL>"))
        for key in ("$V200", "$V3", "$V2", "$V", "$PROJECT", "$ORG"):
            value = value.replace(side.values[key], key)
        return DATE.sub("<date>", value)
    return value


def body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"<not json>": response.headers.get("content-type", "")}


def key_shape(body: Any) -> Any:
    if isinstance(body, dict):
        return {"keys": sorted(body), "version": body.get("version")}
    if isinstance(body, list):
        items = [item for item in body if isinstance(item, dict)]
        return {"items": len(body), "keys": sorted({key for item in items for key in item}),
                "order": [item.get("version", item.get("name")) for item in items]}
    return body


def life_view(value: Any) -> Any:
    """What per-environment commit ranges rest on: versions, refs, dates, counts, deploys, commit ids."""
    if isinstance(value, list):
        return [life_view(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "version" in value and "deployCount" in value:  # a release
        last = value.get("lastDeploy")
        return {"version": value["version"], "ref": value.get("ref"), "dateReleased": value.get("dateReleased"),
                "commitCount": value.get("commitCount"), "deployCount": value.get("deployCount"),
                "lastDeploy": {"environment": last.get("environment"), "name": last.get("name")}
                if isinstance(last, dict) else last,
                "currentProjectMeta": value.get("currentProjectMeta")}
    if "environment" in value and "dateFinished" in value:  # a deploy
        return {key: value.get(key) for key in ("environment", "name", "url", "dateStarted", "dateFinished")}
    if "repository" in value and "id" in value:  # a commit
        return {"sha": value["id"], "message": value.get("message")}
    return value


def observe(step: Step, response: httpx.Response, side: Side) -> Any:
    status = response.status_code
    body = body_of(response)
    if step.compare == "status":
        return status
    if step.compare == "keys":
        return status, normalise(key_shape(body), side)
    if step.compare == "life":
        return status, normalise(life_view(body), side)
    if step.compare == "link":
        link = response.headers.get("Link")
        return status, normalise(link, side) if link is not None else None
    if step.compare == "index":
        if not isinstance(body, dict):
            return status, body
        auth = body.get("auth")
        return status, {
            "keys": sorted(body),
            "version": body.get("version"),
            "auth": sorted(auth) if isinstance(auth, dict) else auth,
            "scopes": sorted(auth.get("scopes", [])) if isinstance(auth, dict) else None,
            "user": sorted(body["user"]) if isinstance(body.get("user"), dict) else body.get("user"),
        }
    return status, normalise(body, side)


def run(scenario: Scenario, side: Side) -> List[Any]:
    return [observe(step, side.send(step), side) for step in scenario.steps]


# ---- fixtures ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RealFacts:
    org_id: int
    scopes: Dict[str, List[str]]  # token kind -> scopes


@pytest.fixture(scope="module")
def real_facts(real_sentry: SentryServer, sentry_api: SentryApi) -> RealFacts:
    org = sentry_api.get_json(f"organizations/{real_sentry.org}/")
    scopes = {}
    for kind, token in (("full", real_sentry.token), ("ro", real_sentry.ro_token)):
        answer = httpx.get(f"{real_sentry.url}/api/0/", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        scopes[kind] = list(answer.json()["auth"]["scopes"])
    return RealFacts(org_id=int(org["id"]), scopes=scopes)


@pytest.fixture(scope="module")
def parity_emulator() -> Iterator[SentryEmulator]:
    # No contract layer: the parity run sends invalid requests on purpose.
    checker = ContractChecker(shared_dir=Path("/nonexistent/parity-run-has-no-contract-checks"))
    with SentryEmulator(defaults=False, contract=checker) as emulator:
        yield emulator


def mirror(emulator: SentryEmulator, server: SentryServer, project: Project, facts: RealFacts,
           switches: Tuple[Switch, ...]) -> None:
    """Fresh emulator state that looks like the real org: same slugs, ids, tokens and scopes."""
    emulator.reset()
    org = emulator.add_org(project.org)
    emulator.store.environments.pop(org.id, None)
    org.id = facts.org_id
    emulator.store.environments[org.id] = []
    mirrored = emulator.add_project(org, project.slug)
    mirrored.id = int(project.id)
    mirrored.platform = None  # the harness creates its projects without a platform
    emulator.add_token(server.token, facts.scopes["full"])
    emulator.add_token(server.ro_token, facts.scopes["ro"])
    for switch in switches:
        setattr(emulator, switch.attribute, switch.value)


def placeholders(project: Project) -> Dict[str, str]:
    version = f"parity-{project.serial}"
    return {"$ORG": project.org, "$PROJECT": project.slug, "$PID": project.id,
            "$V200": version.ljust(200, "x"), "$V3": f"{version}-third", "$V2": f"{version}-second", "$V": version,
            "$SERIAL": str(project.serial)}


def sides(server: SentryServer, emulator: SentryEmulator, project: Project) -> Tuple[Side, Side]:
    values = placeholders(project)
    real = Side("real", server.url, {"full": server.token, "ro": server.ro_token, "bad": BAD_TOKEN,
                                     "none": None}, values)
    emu = Side("emulator", emulator.url, {"full": server.token, "ro": server.ro_token, "bad": BAD_TOKEN,
                                          "none": None}, values)
    return real, emu


def show(label: str, observations: List[Any]) -> None:
    if os.environ.get("PARITY_SHOW"):
        print(f"\n{label}:")
        for index, item in enumerate(observations):
            print(f"  [{index}] {item!r}")


# ---- the test ----------------------------------------------------------------------------------

def test_scenario_names_are_unique() -> None:
    names = [scenario.name for scenario in SCENARIOS]
    assert len(names) == len(set(names))
    assert set(SWITCHED) <= set(names) and set(KNOWN_DIFFERENCES) <= set(names)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_emulator_answers_like_the_real_server(
        scenario: Scenario, real_sentry: SentryServer, e2e_project: Project, real_facts: RealFacts,
        parity_emulator: SentryEmulator) -> None:
    real, emu = sides(real_sentry, parity_emulator, e2e_project)
    try:
        switches = SWITCHED.get(scenario.name, ())
        mirror(parity_emulator, real_sentry, e2e_project, real_facts, switches)
        real_seen = run(scenario, real)
        emulator_seen = run(scenario, emu)
        show(f"{scenario.name} real", real_seen)
        show(f"{scenario.name} emulator", emulator_seen)
        assert parity_emulator.server_errors == [], "the emulator crashed (a bug in tests/emulator)"

        known = KNOWN_DIFFERENCES.get(scenario.name)
        if known is None:
            assert emulator_seen == real_seen
        else:
            # Recorded on purpose (see KNOWN_DIFFERENCES): it must still be there, exactly as recorded,
            # and everything else must match.
            compared = emulator_seen
            if known.emulator_only_keys:
                assert not has_key(real_seen, known.emulator_only_keys), known.reason
                assert has_key(emulator_seen, known.emulator_only_keys), known.reason
                compared = without_keys(emulator_seen, known.emulator_only_keys)
            for index, (real_answer, emulator_answer) in known.steps.items():
                assert (real_seen[index], compared[index]) == (real_answer, emulator_answer), known.reason
            others = [i for i in range(len(scenario.steps)) if i not in known.steps]
            assert [compared[i] for i in others] == [real_seen[i] for i in others]

        if switches:
            # The switch is needed: with RULES.md defaults the emulator answers differently.
            mirror(parity_emulator, real_sentry, e2e_project, real_facts, ())
            default_seen = run(scenario, emu)
            show(f"{scenario.name} emulator with defaults", default_seen)
            assert default_seen != emulator_seen, [switch.reason for switch in switches]
    finally:
        real.close()
        emu.close()


# ---- client keys (`check` verifies the app's DSN against them) ----------------------------------

def test_project_keys_answer_like_the_real_server(
        real_sentry: SentryServer, e2e_project: Project, real_facts: RealFacts,
        parity_emulator: SentryEmulator) -> None:
    """GET /projects/{org}/{project}/keys/ (not in the OpenAPI subset): the same list, DSNs, Link
    header, 403 for a token without project:read and 404 for an unknown project."""
    real, emu = sides(real_sentry, parity_emulator, e2e_project)
    keys = "projects/$ORG/$PROJECT/keys/"
    steps = (Step("GET", keys), Step("GET", keys, token="ro"), Step("GET", keys, token="bad"),
             Step("GET", "projects/$ORG/no-such-project-$SERIAL/keys/"), Step("GET", keys, compare="link"))
    try:
        mirror(parity_emulator, real_sentry, e2e_project, real_facts, ())
        [key] = real.send(steps[0]).json()
        mirrored = parity_emulator.store.project(e2e_project.org, e2e_project.slug)
        mirrored.public_key, mirrored.secret_key = key["public"], key["secret"]

        def seen(side: Side) -> List[Any]:
            answers = []
            for step in steps:
                response = side.send(step)
                if step.compare == "link":
                    # 23.7.1 pages keys by their internal id (cursor "<id>:0:1"), which the API never
                    # shows; the tool only reads rel and results, so cursors are compared as a shape.
                    status, link = observe(step, response, side)
                    answers.append((status, re.sub(r"\d+:-?\d+:[01]", "<cursor>", str(link))))
                    continue
                body = json.loads(LOOPBACK_HOST.sub("<HOST>", json.dumps(body_of(response))))
                answers.append((response.status_code, normalise(body, side)))
            return answers

        real_seen, emulator_seen = seen(real), seen(emu)
        show("project keys real", real_seen)
        show("project keys emulator", emulator_seen)
        assert parity_emulator.server_errors == []
        assert real_seen[0][0] == 200 and real_seen[0][1][0]["dsn"]["public"] == \
            f"http://{key['public']}@<HOST>/{e2e_project.id}"
        assert [status for status, _ in real_seen] == [200, 403, 401, 404, 200]
        assert emulator_seen == real_seen

        # A disabled key stays listed, with isActive false.
        disabled = real.client.put(real.fill(f"{keys}{key['id']}/"), json={"isActive": False},
                                   headers={"Authorization": f"Bearer {real_sentry.token}"})
        assert disabled.status_code == 200, disabled.text
        mirrored.key_active = False
        real_listed, emulator_listed = seen(real)[0], seen(emu)[0]
        assert real_listed[1][0]["isActive"] is False
        assert emulator_listed == real_listed
    finally:
        real.close()
        emu.close()
