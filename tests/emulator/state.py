"""In-memory model of the Sentry objects the release API touches, and their JSON forms."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

PROVIDER_NAMES = {
    "integrations:github": "GitHub",
    "integrations:github_enterprise": "GitHub Enterprise",
    "integrations:gitlab": "GitLab",
    "integrations:bitbucket": "Bitbucket",
    "integrations:bitbucket_server": "Bitbucket Server",
    "integrations:vsts": "Azure DevOps",
    "github": "GitHub",
    "gitlab": "GitLab",
    "bitbucket": "Bitbucket",
    "visualstudio": "Visual Studio Team Services",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime | None) -> str | None:
    """Sentry's (DRF's) datetime rendering: ISO-8601 with a ``Z`` suffix."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


@dataclass
class Organization:
    id: int
    slug: str
    name: str


@dataclass
class Project:
    id: int
    slug: str
    org: Organization
    public_key: str = field(default_factory=lambda: secrets.token_hex(16))
    platform: str | None = "python"
    secret_key: str = field(default_factory=lambda: secrets.token_hex(16))  # the client key's secret half
    key_active: bool = True  # the one client key ("Default") is enabled

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "name": self.slug,
            "newGroups": 0,
            "platform": self.platform,
            "platforms": [self.platform] if self.platform else [],
            "hasHealthData": False,
        }

    def detail(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "slug": self.slug,
            "name": self.slug,
            "platform": self.platform,
            "dateCreated": "2024-01-01T00:00:00Z",
            "organization": {"id": str(self.org.id), "slug": self.org.slug, "name": self.org.name},
        }


@dataclass
class Token:
    value: str
    scopes: list[str]
    org: Organization | None = None  # set for org auth tokens: valid for this org only
    projects: set[str] | None = None  # project slugs a user token may see; None = all

    @property
    def is_org_token(self) -> bool:
        return self.org is not None


@dataclass
class Repository:
    id: int
    org: Organization
    name: str
    provider: str | None
    url: str | None
    status: str = "active"
    date_created: datetime = field(default_factory=utcnow)
    # Commits a provider integration would fetch for refs, oldest first (see fetch in api.py).
    remote_commits: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        if self.provider:
            provider = {"id": self.provider, "name": PROVIDER_NAMES.get(self.provider, self.provider)}
        else:
            provider = {"id": "unknown", "name": "Unknown Provider"}
        return {
            "id": str(self.id),
            "name": self.name,
            "url": self.url,
            "provider": provider,
            "status": self.status,
            "dateCreated": iso(self.date_created),
            "integrationId": "1" if self.provider and self.provider.startswith("integrations:") else None,
            "externalSlug": self.name if self.provider else None,
            "externalId": str(self.id) if self.provider else None,
        }


@dataclass
class Commit:
    id: str
    repository: Repository
    message: str | None
    author_name: str | None
    author_email: str | None
    timestamp: datetime | None
    patch_set: list[dict[str, str]]
    date_created: datetime = field(default_factory=utcnow)

    def author(self) -> dict[str, Any] | None:
        if not self.author_email:
            return None
        # Sentry 23.7.1: a commit sent with an e-mail and no author_name has a null name.
        return {"name": self.author_name or None, "email": self.author_email}

    def to_json(self, release: Release | None = None) -> dict[str, Any]:
        releases = []
        if release is not None:
            releases = [release.short_json()]
        return {
            "id": self.id,
            "message": self.message,
            "dateCreated": iso(self.timestamp or self.date_created),
            "pullRequest": None,
            "suspectCommitType": "",
            "repository": self.repository.to_json(),
            "author": self.author(),
            "releases": releases,
        }


def author_email_for(name: str | None, email: str | None) -> str | None:
    """Sentry invents ``<name>@localhost`` when only a name is known, and keeps 75 chars."""
    if email:
        return email[:75]
    if name:
        return (re.sub(r"[^a-zA-Z0-9\-_.]", "", name).lower() + "@localhost")[:75]
    return None


@dataclass
class Deploy:
    id: int
    release: Release
    environment: str
    name: str | None
    url: str | None
    date_started: datetime | None
    date_finished: datetime
    projects: list[Project]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "environment": self.environment,
            "dateStarted": iso(self.date_started),
            "dateFinished": iso(self.date_finished),
            "name": self.name,
            "url": self.url,
        }


@dataclass
class Release:
    id: int
    org: Organization
    version: str
    date_created: datetime
    projects: list[Project] = field(default_factory=list)
    ref: str | None = None
    url: str | None = None
    date_released: datetime | None = None
    status: str = "open"
    owner: dict[str, Any] | None = None
    user_agent: str | None = None
    commits: list[Commit] = field(default_factory=list)
    head_commits: dict[str, dict[str, Any]] = field(default_factory=dict)  # repo name -> ref
    deploys: list[Deploy] = field(default_factory=list)
    locked_until: float = 0.0  # monotonic time until which set_commits answers 409

    @property
    def short_version(self) -> str:
        return self.version[:12] if re.fullmatch(r"[0-9a-f]{40}", self.version) else self.version

    @property
    def sort_date(self) -> datetime:
        return self.date_released or self.date_created

    def short_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "shortVersion": self.short_version,
            "ref": self.ref,
            "url": self.url,
            "dateReleased": iso(self.date_released),
            "dateCreated": iso(self.date_created),
        }

    def authors(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for commit in self.commits:
            author = commit.author()
            if author and author["email"] not in seen:
                seen[author["email"]] = author
        return list(seen.values())

    def to_json(self) -> dict[str, Any]:
        # lastCommit lists its releases, this one included (as Sentry 23.7.1 answers).
        last_commit = self.commits[0].to_json(self) if self.commits else None
        last_deploy = max(self.deploys, key=lambda d: d.id).to_json() if self.deploys else None
        return {
            "id": self.id,
            **self.short_json(),
            "status": self.status,
            "versionInfo": version_info(self.version),
            "data": {},
            "newGroups": 0,
            "owner": self.owner,
            "commitCount": len(self.commits),
            "lastCommit": last_commit,
            "deployCount": len(self.deploys),
            "lastDeploy": last_deploy,
            "authors": self.authors(),
            "projects": [project.summary() for project in self.projects],
            "firstEvent": None,
            "lastEvent": None,
            "currentProjectMeta": {},
            "userAgent": self.user_agent,
        }


def version_info(version: str) -> dict[str, Any]:
    package, _, rest = version.rpartition("@")
    raw = rest if package else version
    return {
        "package": package or None,
        "version": {"raw": raw},
        "description": raw,
        "buildHash": raw if re.fullmatch(r"[0-9a-f]{40}", raw) else None,
    }
