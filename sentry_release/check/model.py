"""What a check produces (items) and what the checks share while they run (the run, its facts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

if TYPE_CHECKING:
    from sentry_release.check.appenv import AppEnv
    from sentry_release.config import Settings
    from sentry_release.sentry import SentryClient

OK, WARNING, FAILURE = "ok", "warning", "failure"

RELEASE_WRITE = frozenset({"project:releases", "project:write", "project:admin", "org:ci"})
RELEASE_READ = RELEASE_WRITE | {"project:read"}
REPO_READ = frozenset({"org:admin", "org:ci", "org:integrations", "org:read", "org:write"})
ORG_READ = frozenset({"org:read", "org:write", "org:admin"})
PROJECT_READ = frozenset({"project:read", "project:write", "project:admin"})


@dataclass
class Item:
    key: str
    title: str
    status: str
    message: str
    fix: Optional[str] = None
    readers: list[str] = field(default_factory=list)   # the .env readers whose reading was checked


@dataclass
class Facts:
    """What the checks learn along the way, for the checks after them and for `--fix`."""

    scopes: Optional[frozenset[str]] = None       # None: the token could not be read
    org_token: bool = False
    org_ok: bool = False
    org_id: Optional[str] = None
    project_ids: dict[str, str] = field(default_factory=dict)     # configured slug -> id
    org_projects: Optional[dict[str, str]] = None                 # id -> slug of every project seen
    keys: dict[str, Optional[list[dict[str, Any]]]] = field(default_factory=dict)  # slug -> client keys
    expected_dsn: Optional[str] = None            # the configured project's DSN, when readable
    derived: Optional[str] = None
    derive_error: Optional[str] = None
    repo_dir: Optional[Path] = None

    def can(self, needed: Iterable[str]) -> bool:
        return self.scopes is not None and bool(self.scopes & set(needed))


@dataclass
class Check:
    settings: Settings
    env: AppEnv
    environment: Optional[str]            # the environment being checked (flag or the app's own)
    client: Optional[SentryClient]
    facts: Facts
    env_file_option: str                  # how to name the env file in a fix
    log: Callable[[str], None]

    @property
    def production(self) -> bool:
        names = {name.strip() for name in self.settings.production_environments or ()}
        return bool(self.environment) and str(self.environment).strip() in names

    @property
    def api(self) -> SentryClient:
        assert self.client is not None, "a Sentry check ran without a client"
        return self.client

    def environment_label(self) -> str:
        return f"{self.environment}'s" if self.environment else "the configured"


def not_checked(key: str, title: str, why: str, fix: Optional[str] = None) -> Item:
    return Item(key, title, WARNING, f"not checked: {why}", fix)
