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
    if history.newest is not None and history.is_newest(target.version):
        log(f"{target.version} already is {body['environment']}'s newest deploy (id {history.newest.deploy_id}); "
            "not adding another (a re-run)")
        return DeployRecord(history.newest.deploy_id, False)
    existing = _same_run_deploy(client, target, body, release)
    if existing is not None:
        log(f"deploy {body.get('name')} to {body['environment']} is already recorded (id {existing.get('id')}); "
            "not adding another (a re-run of the same CI run)")
        return DeployRecord(_id(existing), False)
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


def _same_run_deploy(client: SentryClient, target: ReleaseTarget, body: JSON, release: Release) -> Optional[JSON]:
    environment, name = body["environment"], body.get("name")
    if not name or release.deploy_count == 0:
        return None
    if _same_run(release.last_deploy, environment, name):
        return release.last_deploy
    return _find(client, target, lambda d: _same_run(d, environment, name))


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
