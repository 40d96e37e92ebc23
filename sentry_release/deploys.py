"""Recording a deploy: every real deploy once, re-runs never.

A deploy is a re-run, and adds nothing, when the release already is the environment's newest deploy,
or when this CI run (its deploy name) already recorded one for it. A rollback (an older release going
back) and a redeploy after one are real deploys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from sentry_release.clock import parse_iso
from sentry_release.environments import History
from sentry_release.errors import ApiError
from sentry_release.releases import JSON, Release, ReleaseTarget, project_values, release_deploys
from sentry_release.sentry import SentryClient, backoff

Log = Callable[[str], None]


@dataclass(frozen=True)
class DeployRecord:
    id: Optional[str]
    created: bool


def deploy_body(target: ReleaseTarget, environment: str, *, name: Optional[str], url: Optional[str],
                started: Optional[str], finished: str) -> JSON:
    body: JSON = {"environment": environment, "dateFinished": finished, "projects": project_values(target.projects)}
    for key, value in (("name", name), ("url", url), ("dateStarted", started)):
        if value:
            body[key] = value
    return body


def record_deploy(client: SentryClient, target: ReleaseTarget, body: JSON, release: Release,
                  history: History, log: Log) -> DeployRecord:
    """Post the deploy unless it is a re-run. A lost answer is looked for before each re-send."""
    existing = _rerun_of(client, target, body, release, history)
    if existing is not None:
        log(existing[1])
        return DeployRecord(_id(existing[0]), False)
    for attempt in range(client.max_retries + 1):
        try:
            reply = client.request("POST", target.path + "deploys/", target.context("record a deploy of"),
                                   json=body, retry=False)
            return DeployRecord(_id(reply.data), True)
        except ApiError as exc:
            if not exc.retryable or attempt == client.max_retries:
                raise
            delay = backoff(attempt)
            log(f"recording the deploy failed ({exc}); checking and retrying in {delay:.1f} s")
            client.sleep(delay)
            ours = _find(client, target, lambda d: _is_ours(d, body))
            if ours is not None:
                return DeployRecord(_id(ours), False)
    raise AssertionError("unreachable")


def _rerun_of(client: SentryClient, target: ReleaseTarget, body: JSON, release: Release,
              history: History) -> Optional[tuple[Optional[JSON], str]]:
    environment, name = body["environment"], body.get("name")
    if history.is_newest(target.version):
        return None, (f"{target.version} already is {environment}'s newest deploy; not adding another "
                      "(a re-run)")
    if not name or release.deploy_count == 0:
        return None
    if _same_run(release.last_deploy, environment, name):
        found: Optional[JSON] = release.last_deploy
    else:
        found = _find(client, target, lambda d: _same_run(d, environment, name))
    if found is None:
        return None
    return found, f"deploy {name} to {environment} is already recorded (id {found.get('id')}); not adding another"


def _find(client: SentryClient, target: ReleaseTarget, wanted: Callable[[JSON], bool]) -> Optional[JSON]:
    if not client.can_read:
        return None
    return next((d for d in release_deploys(client, target) if wanted(d)), None)


def _same_run(deploy: Any, environment: str, name: str) -> bool:
    return isinstance(deploy, dict) and deploy.get("environment") == environment and deploy.get("name") == name


def _is_ours(deploy: JSON, body: JSON) -> bool:
    """The deploy a lost answer created: same environment, name and finish time as the one sent."""
    return (deploy.get("environment") == body["environment"] and (deploy.get("name") or None) == body.get("name")
            and parse_iso(str(deploy.get("dateFinished") or "")) == parse_iso(body["dateFinished"]))


def _id(data: Any) -> Optional[str]:
    return str(data["id"]) if isinstance(data, dict) and data.get("id") else None
