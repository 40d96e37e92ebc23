"""Sentry DSNs and the one envelope `check --send-test-event` sends, over httpx, without the SDK.

A DSN is `{scheme}://{public_key}[:{secret_key}]@{host}[:{port}]{/path-prefix}/{project_id}`,
parsed by the same rules as sentry-python (see sentry-api/RULES.md §10).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlsplit

from sentry_release import __version__
from sentry_release.clock import iso_utc
from sentry_release.errors import ApiError, ConnectionFailed

CLIENT = f"sentry-release/{__version__}"
TEST_TAG = "sentry-release.test"
_ORG_ID_HOST = re.compile(r"^o(\d+)\.")
_PROJECT_ID = re.compile(r"^[0-9]+$")


class BadDsn(ValueError):
    """The DSN cannot be used; the message says which part is wrong."""


@dataclass(frozen=True)
class Dsn:
    scheme: str
    public_key: str
    secret_key: Optional[str]
    host: str                  # hostname, lower-cased, without brackets or port
    port: Optional[int]        # only when written in the DSN
    path: str                  # prefix before the project id, no trailing slash ("" for most)
    project_id: str

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port is not None else host

    @property
    def org_id(self) -> Optional[str]:
        """The organization id a sentry.io ingest host carries (`o123.ingest.sentry.io` → "123")."""
        match = _ORG_ID_HOST.match(self.host)
        return match.group(1) if match else None

    @property
    def envelope_url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}/api/{self.project_id}/envelope/"

    def describe(self) -> str:
        """The DSN without its keys, safe to print."""
        return f"{self.scheme}://***@{self.netloc}{self.path}/{self.project_id}"

    def auth_header(self) -> str:
        parts = [f"sentry_key={self.public_key}", "sentry_version=7", f"sentry_client={CLIENT}"]
        if self.secret_key:
            parts.append(f"sentry_secret={self.secret_key}")
        return "Sentry " + ", ".join(parts)


def parse_dsn(text: str) -> Dsn:
    text = (text or "").strip()
    if not text:
        raise BadDsn("it is empty")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise BadDsn(f"unsupported scheme {parts.scheme!r}; use https (or http)" if parts.scheme
                     else "no scheme; it starts with https://")
    if not parts.hostname:
        raise BadDsn("no host after '@'")
    if not parts.username:
        raise BadDsn("no public key before '@'")
    try:
        port = parts.port
    except ValueError:
        raise BadDsn("the port is not a number between 0 and 65535") from None
    if parts.query or parts.fragment:
        raise BadDsn("it has a query or fragment; a DSN ends with the project id")
    prefix, _, project = parts.path.rpartition("/")
    if not _PROJECT_ID.match(project):
        raise BadDsn(f"the last path segment {project!r} is not an integer project id")
    return Dsn(parts.scheme, parts.username, parts.password or None, parts.hostname.lower(), port,
               prefix.rstrip("/"), str(int(project)))


def host_matches(dsn_host: str, sentry_url: str) -> bool:
    """Whether events to `dsn_host` reach the Sentry server at `sentry_url`.

    sentry.io ingests at `oNNN.ingest.sentry.io` / `oNNN.ingest.us.sentry.io` while its API is
    `sentry.io` or `us.sentry.io`, so any host under sentry.io matches a sentry.io URL.
    """
    api_host = (urlsplit(sentry_url).hostname or "").lower()
    dsn_host = dsn_host.lower()
    if _under(api_host, "sentry.io"):
        return _under(dsn_host, "sentry.io")
    return dsn_host == api_host


def _under(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


# -- the test event ----------------------------------------------------------------------------

def make_test_event(release: Optional[str], environment: Optional[str], event_id: Optional[str] = None) -> dict[str, Any]:
    """A minimal error event that Sentry groups as its own issue and that is easy to find by tag."""
    text = "sentry-release check: test event; error reporting works"
    event: dict[str, Any] = {
        "event_id": event_id or uuid.uuid4().hex,
        "timestamp": iso_utc(),
        "platform": "python",
        "level": "error",
        "logger": "sentry-release",
        "message": text,
        "exception": {"values": [{"type": "SentryReleaseTestError", "value": text,
                                  "mechanism": {"type": "generic", "handled": True}}]},
        "tags": {TEST_TAG: "true"},
        "sdk": {"name": "sentry-release", "version": __version__},
    }
    if release:
        event["release"] = release
    if environment:
        event["environment"] = environment
    return event


def build_envelope(dsn_text: str, event: dict[str, Any]) -> bytes:
    """Envelope header line, item header line (with the byte length), the event payload."""
    payload = json.dumps(event, separators=(",", ":")).encode("utf-8")
    header = {"event_id": event["event_id"], "dsn": dsn_text.strip(), "sent_at": iso_utc(),
              "sdk": event.get("sdk")}
    item = {"type": "event", "length": len(payload), "content_type": "application/json"}
    lines = [json.dumps(header, separators=(",", ":")).encode("utf-8"),
             json.dumps(item, separators=(",", ":")).encode("utf-8"), payload]
    return b"\n".join(lines) + b"\n"


def send_envelope(dsn: Dsn, body: bytes, timeout: float = 10.0, ca_bundle: Optional[str] = None) -> Optional[str]:
    """POST the envelope to the DSN's ingest endpoint; return the event id the server answered."""
    import httpx

    headers = {"Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": dsn.auth_header(),
               "User-Agent": CLIENT}
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), verify=_verify(ca_bundle)) as client:
            response = client.post(dsn.envelope_url, content=body, headers=headers)
    except (httpx.TransportError, OSError) as exc:
        raise ConnectionFailed(f"cannot reach {dsn.netloc}: {str(exc).strip() or type(exc).__name__}") from None
    if response.status_code >= 400:
        raise ApiError(_rejection(response), response.status_code)
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer.get("id") if isinstance(answer, dict) else None


def _verify(ca_bundle: Optional[str]) -> Any:
    if not ca_bundle:
        return True
    import ssl

    return ssl.create_default_context(cafile=ca_bundle)


def _rejection(response: Any) -> str:
    if "html" in response.headers.get("content-type", ""):
        # a web page, not Relay's JSON: the DSN's host serves no ingest endpoint at this path
        return (f"the DSN's host answered an HTML page instead of accepting the event (HTTP {response.status_code}); "
                "check that the DSN points at your Sentry's ingest endpoint (Relay)")
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = " ".join(response.text.split())[:200]
    why = {401: "the DSN's public key was not accepted", 403: "the DSN's key or project was refused",
           413: "the event was too large", 429: "the project is rate limited or over quota"}
    reason = why.get(response.status_code, "the event was refused")
    return f"{reason} (HTTP {response.status_code}{': ' + str(detail) if detail else ''})"
