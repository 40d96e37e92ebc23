"""Derive the release name from settings, git, project files and CI facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping, Optional

from sentry_release import naming, versions, vcs
from sentry_release.ci import CIFacts, detect_ci
from sentry_release.config import Settings
from sentry_release.errors import ConfigError, InvalidName

Log = Callable[[str], None]


@dataclass(frozen=True)
class Part:
    value: str
    source: str


@dataclass
class Derivation:
    name: str
    template: Optional[str]                 # None when the release was given explicitly
    parts: dict[str, Part] = field(default_factory=dict)
    source: str = ""
    head_sha: Optional[str] = None
    repo_dir: Optional[Path] = None
    ci: CIFacts = field(default_factory=CIFacts)


def derive_release(settings: Settings, project_dir: Path, environ: Mapping[str, str], log: Log) -> Derivation:
    ci = detect_ci(environ)
    repo = vcs.open_repo(project_dir)
    head = vcs.head(repo) if repo is not None else None
    repo_dir = repo.root if repo is not None else None
    head_sha = head.sha if head else ci.sha

    if settings.release == "" and settings.source("release") != "default":
        raise InvalidName(f"the release given by {settings.source('release')} is empty; "
                                 "leave it out to derive the name")
    if settings.release:
        explicit = str(settings.release)
        if explicit.startswith("refs/tags/"):
            explicit = explicit[len("refs/tags/"):]
        name = naming.validate_release(settings.release_prefix + explicit)
        return Derivation(name, None, {}, settings.source("release"), head_sha, repo_dir, ci)

    template = settings.template
    fields = naming.template_fields(template)
    # project files sit beside the pyproject.toml that configures us, wherever we run from
    files_dir = settings.pyproject.parent if settings.pyproject is not None else project_dir
    finder = _PartFinder(settings, files_dir, repo, head, ci, log)
    parts = {name: part for name in fields if (part := finder.find(name)) is not None}
    rendered = naming.render_release(template, {name: part.value for name, part in parts.items()})
    name = naming.validate_release(settings.release_prefix + rendered)
    return Derivation(name, template, parts, f"template {template!r}", head_sha, repo_dir, ci)


class _PartFinder:
    def __init__(self, settings: Settings, project_dir: Path, repo: Optional[vcs.Repo], head: Optional[vcs.Head],
                 ci: CIFacts, log: Log) -> None:
        self.settings, self.project_dir, self.repo, self.head, self.ci, self.log = (
            settings, project_dir, repo, head, ci, log)

    def find(self, name: str) -> Optional[Part]:
        return getattr(self, f"_{name}")()

    def _version(self) -> Optional[Part]:
        if self.settings.base_version:
            value = versions.normalise(self.settings.base_version, "--base-version")
            return Part(value, self.settings.source("base_version"))
        wanted = self.settings.version_source
        if wanted in ("auto", "tag"):
            tag = self._tag()
            if tag:
                return tag
        for key, reader in versions.FILE_SOURCES.items():
            if wanted in ("auto", key.lower()):
                found = reader(self.project_dir)
                if found:
                    return Part(found.version, found.source)
        return None

    def _tag(self) -> Optional[Part]:
        if self.repo is None or self.head is None:
            return None
        found = vcs.latest_version_tag(self.repo)
        if found is None and self.repo.shallow:
            if self.settings.fetch and vcs.fetch_tags(self.repo, self.settings.vcs_remote, self.log):
                found = vcs.latest_version_tag(self.repo)
            if found is None:
                self.log("shallow clone: no version tag is reachable, so the base version comes from the "
                         "next source (fetch with fetch-depth: 0 / GIT_DEPTH: 0 to use tags)")
        return Part(found.version, f"git tag {found.tag}") if found else None

    def _date(self) -> Optional[Part]:
        source = self.settings.date_source
        if source == "now":
            return Part(datetime.now(timezone.utc).strftime("%Y%m%d"), "current time (UTC)")
        if source == "pipeline":
            if not self.ci.pipeline_created_at:
                raise ConfigError("--date-source pipeline needs CI_PIPELINE_CREATED_AT (GitLab CI); "
                                  "use --date-source commit elsewhere")
            created = _parse_iso(self.ci.pipeline_created_at)
            return Part(created.strftime("%Y%m%d"), "CI_PIPELINE_CREATED_AT (UTC)")
        if self.head is None:
            return None
        return Part(self.head.committed_at.strftime("%Y%m%d"), f"HEAD commit date {self.head.committed_at:%Y-%m-%dT%H:%MZ} (UTC)")

    def _sha(self) -> Optional[Part]:
        if self.head:
            return Part(self.head.sha, "git HEAD")
        return Part(self.ci.sha, "CI commit sha") if self.ci.sha else None

    def _short_sha(self) -> Optional[Part]:
        sha = self._sha()
        return Part(sha.value[:7], sha.source) if sha else None

    def _branch(self) -> Optional[Part]:
        if self.ci.branch:
            return Part(naming.sanitize_branch(self.ci.branch), f"{self.ci.provider} CI branch")
        if self.head and self.head.branch:
            return Part(naming.sanitize_branch(self.head.branch), "git branch")
        return None

    def _build(self) -> Optional[Part]:
        return Part(self.ci.build, f"{self.ci.provider} CI run number") if self.ci.build else None

    def _package(self) -> Optional[Part]:
        name = versions.package_name(self.project_dir)
        return Part(name, "project metadata") if name else None


def _parse_iso(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"cannot read the date {text!r}; expected ISO-8601 such as 2024-01-16T10:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)
