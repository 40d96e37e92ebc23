"""Derive the release name from settings, git, project files and CI facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from sentry_release import naming, versions, vcs
from sentry_release.ci import CIFacts
from sentry_release.config import Settings
from sentry_release.errors import ConfigError, InvalidName
from sentry_release.git import Head, Repository, open_repository

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
    ordinal: Optional[vcs.DayOrdinal] = None   # HEAD's place in its day, when the name has a commit {date}


def derive_release(settings: Settings, project_dir: Path, log: Log) -> Derivation:
    ci = settings.ci
    repo = open_repository(project_dir)
    head = repo.head() if repo is not None else None
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
        return Derivation(name, None, {}, settings.source("release"), head_sha, repo_dir)

    template = settings.template
    fields = naming.template_fields(template)
    # project files sit beside the pyproject.toml that configures us, wherever we run from
    files_dir = settings.pyproject.parent if settings.pyproject is not None else project_dir
    finder = _PartFinder(settings, files_dir, repo, head, ci, log)
    parts = {name: part for name in fields if (part := finder.find(name)) is not None}
    ordinal = finder.day_ordinal() if "date" in parts else None
    if ordinal is not None:
        parts["date"] = _with_ordinal(parts["date"], ordinal)
    rendered = naming.render_release(template, {name: part.value for name, part in parts.items()})
    name = naming.validate_release(settings.release_prefix + rendered)
    return Derivation(name, template, parts, f"template {template!r}", head_sha, repo_dir, ordinal)


def _with_ordinal(date_part: Part, ordinal: vcs.DayOrdinal) -> Part:
    """The first commit of a day keeps the plain date; the second gets `.2`, the third `.3`."""
    value = date_part.value if ordinal.number == 1 else f"{date_part.value}.{ordinal.number}"
    return Part(value, f"{date_part.source}; {ordinal.describe()}")


class _PartFinder:
    def __init__(self, settings: Settings, project_dir: Path, repo: Optional[Repository], head: Optional[Head],
                 ci: CIFacts, log: Log) -> None:
        self.settings, self.project_dir, self.repo, self.head, self.ci, self.log = (
            settings, project_dir, repo, head, ci, log)
        self.fetching = vcs.Fetching(bool(settings.fetch), str(settings.vcs_remote), log)
        self.version_tag: Optional[vcs.VersionTag] = None   # where the version starts, when a tag names it

    def find(self, name: str) -> Optional[Part]:
        finder: Callable[[], Optional[Part]] = getattr(self, f"_{name}")
        return finder()

    def day_ordinal(self) -> Optional[vcs.DayOrdinal]:
        """HEAD's place among its day's commits, for a date taken from HEAD's commit."""
        if self.settings.date_source != "commit" or self.repo is None or self.head is None:
            return None
        return vcs.day_ordinal(self.repo, self.head, self.version_tag, self.fetching)

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
        found = vcs.version_tag(self.repo, self.fetching)
        self.version_tag = found
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
        committed = self.head.committed_at
        return Part(committed.strftime("%Y%m%d"), f"HEAD commit date {committed:%Y-%m-%dT%H:%MZ} (UTC)")

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
