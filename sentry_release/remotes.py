"""Remote URLs: the many spellings of one repository, and matching them to Sentry's repositories.

`normalize_remote_url` makes `git@github.com:Acme/Shop.git` and `https://github.com/acme/shop` one
location, so a local remote can be matched against the repositories Sentry knows; Azure DevOps and
Bitbucket Server spellings are rewritten to one form first.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

# Providers whose repositories Sentry can fetch commits for. A repository with no provider (or
# one Sentry does not know) is what `commits[]` uploads create by name; refs sent to it leave the
# release without commits, so it must never count as a match.
KNOWN_PROVIDERS: frozenset[str] = frozenset(
    {
        "github",
        "gitlab",
        "bitbucket",
        "visualstudio",
        "integrations:github",
        "integrations:github_enterprise",
        "integrations:gitlab",
        "integrations:bitbucket",
        "integrations:bitbucket_server",
        "integrations:vsts",
    }
)

_SCHEME_URL = re.compile(r"^(?:[a-z]+\+)?(?:ssh|git|https?)(?:\+[a-z]+)?://(?P<rest>.*)$", re.I)
_SCP_URL = re.compile(r"^(?:[^@/]*@)?(?P<host>[^/:@]+):(?P<path>.*)$")
_AZURE_SSH_HOSTS = ("ssh.dev.azure.com", "vs-ssh.visualstudio.com")
_AZURE_HOST = "dev.azure.com"


def _split_host_and_path(url: str) -> tuple[str, str] | None:
    """(host, path) of a remote URL, case preserved, or None for local paths and junk."""
    url = url.strip()
    scheme_match = _SCHEME_URL.match(url)
    if scheme_match:
        authority, _, path = scheme_match.group("rest").partition("/")
        host = authority.rpartition("@")[2]
        if host.startswith("["):  # IPv6 literal, maybe with a port after the bracket
            host = host[: host.find("]") + 1] if "]" in host else host
        elif ":" in host:
            host, _, port = host.partition(":")
            if port and not port.isdigit():
                # `ssh://git@host:group/repo` is not valid git, but is a common typo of the scp form
                path = f"{port}/{path}"
    elif "://" in url:
        return None  # file:// and unknown schemes cannot name a hosted repository
    else:
        scp_match = _SCP_URL.match(url)
        if not scp_match:
            return None
        host, path = scp_match.group("host"), scp_match.group("path")
    path = _strip_path(path)
    if not host or not path:
        return None
    return host.lower(), path


def _strip_path(path: str) -> str:
    path = path.strip("/")
    if path.lower().endswith(".git"):
        path = path[:-4].rstrip("/")
    return path


def _canonical_location(host: str, path: str) -> tuple[str, str]:
    """Rewrite provider-specific spellings to one form; `path` keeps its case."""
    segments = [s for s in path.split("/") if s]
    azure = _azure_location(host, segments)
    if azure is not None:
        return azure
    bitbucket_server = _bitbucket_server_path(segments)
    if bitbucket_server is not None:
        return host, bitbucket_server
    return host, "/".join(segments)


def _azure_location(host: str, segments: list[str]) -> tuple[str, str] | None:
    """Azure DevOps: ssh v3 URLs, dev.azure.com and ORG.visualstudio.com to ORG/PROJECT/_git/REPO."""
    if host in _AZURE_SSH_HOSTS:
        if len(segments) >= 4 and segments[0].lower() == "v3":
            org, project, repo = segments[1:4]
            return _AZURE_HOST, f"{org}/{project}/_git/{repo}"
        return None
    if host == _AZURE_HOST and segments:
        org, rest = segments[0], segments[1:]
    elif host.endswith(".visualstudio.com"):
        org, rest = host[: -len(".visualstudio.com")], segments
        if rest and rest[0].lower() == "defaultcollection":
            rest = rest[1:]
    else:
        return None
    lowered = [s.lower() for s in rest]
    if "_git" not in lowered:
        return None
    at = lowered.index("_git")
    if at + 1 >= len(rest):
        return None
    repo = rest[at + 1]
    # `ORG/_git/REPO` is the short form for a repository named like its project
    project = rest[at - 1] if at >= 1 else repo
    return _AZURE_HOST, f"{org}/{project}/_git/{repo}"


def _bitbucket_server_path(segments: list[str]) -> str | None:
    """Bitbucket Server web (`projects/P/repos/R/...`) and https clone (`scm/P/R`) forms to P/R."""
    lowered = [s.lower() for s in segments]
    for at in range(len(segments) - 3):
        if lowered[at] in ("projects", "users") and lowered[at + 2] == "repos":
            owner = segments[at + 1]
            if lowered[at] == "users":
                owner = "~" + owner  # personal repositories are cloned as ~user/repo
            return f"{owner}/{segments[at + 3]}"
    if len(segments) == 3 and lowered[0] == "scm":
        return f"{segments[1]}/{segments[2]}"
    return None


def _location(url: str) -> tuple[str, str] | None:
    split = _split_host_and_path(url)
    if split is None:
        return None
    return _canonical_location(*split)


def normalize_remote_url(url: str) -> tuple[str, str] | None:
    """(host, path), lower-cased, user/port/`.git` dropped; None when `url` names no hosted repo."""
    location = _location(url)
    if location is None:
        return None
    host, path = location
    return host, path.lower()


def repository_name_from_remote(url: str) -> str | None:
    """A Sentry-style repository name ("acme/shop", "group/sub/repo") in the remote's own case."""
    location = _location(url)
    if location is None:
        return None
    host, path = location
    if host == _AZURE_HOST:
        path = path.replace("/_git/", "/")
    return path


def _repository_is_usable(repo: Mapping[str, Any]) -> bool:
    provider = repo.get("provider") or {}
    provider_id = provider.get("id") if isinstance(provider, dict) else None
    status = repo.get("status") or "active"
    return status == "active" and provider_id in KNOWN_PROVIDERS and bool(repo.get("url"))


def match_repository(remote_url: str, repos: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The first active Sentry repository with a real provider whose URL names `remote_url`."""
    wanted = normalize_remote_url(remote_url)
    if wanted is None:
        return None
    for repo in repos:
        if _repository_is_usable(repo) and normalize_remote_url(repo["url"]) == wanted:
            return repo
    return None
