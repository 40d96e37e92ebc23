"""``POST /api/{project_id}/envelope/``: the ingest endpoint an SDK sends test events to."""
from __future__ import annotations

import gzip
import json
import re
import zlib
from typing import Any, Mapping

from .api import ApiRequest, HttpError, Response, Store, detail
from .state import Project

ENVELOPE_PATH = re.compile(r"/api/(?P<project_id>\d+)/envelope/\Z")
EVENT_ITEM_TYPES = ("event", "transaction")


def parse_sentry_auth(header: str) -> dict[str, str]:
    """``Sentry sentry_key=…, sentry_version=7, …`` → its key/value pairs."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "sentry":
        raise detail(401, "missing authorization information")
    pairs: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            pairs[key.strip()] = value.strip()
    return pairs


def decode_body(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
        if encoding == "br":
            import brotli  # type: ignore[import-not-found]

            return brotli.decompress(body)
    except ImportError as error:
        raise detail(415, "unsupported content encoding: br") from error
    except Exception as error:
        raise detail(400, f"invalid body encoding: {error}") from error
    return body


def parse_envelope(data: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """Envelope header line, then items: a header line with ``type`` and optional ``length``."""
    header_line, _, rest = data.partition(b"\n")
    header = _json_line(header_line, "envelope header")
    items: list[tuple[dict[str, Any], bytes]] = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        if not item_line.strip():
            continue
        item_header = _json_line(item_line, "item header")
        if not isinstance(item_header.get("type"), str):
            raise detail(400, "invalid envelope: item header without a type")
        length = item_header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            if not isinstance(length, int) or length < 0 or len(rest) < length:
                raise detail(400, "invalid envelope: item length out of range")
            payload, rest = rest[:length], rest[length:]
            if rest.startswith(b"\n"):
                rest = rest[1:]
        items.append((item_header, payload))
    return header, items


def _json_line(line: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError as error:
        raise detail(400, f"invalid envelope: {what} is not JSON") from error
    if not isinstance(value, dict):
        raise detail(400, f"invalid envelope: {what} is not an object")
    return value


def handle_envelope(store: Store, request: ApiRequest, project_id: int, query: Mapping[str, str]) -> Response:
    try:
        return _store_envelope(store, request, project_id, query)
    except HttpError as error:
        return Response(error.status, error.body, error.headers)


def _store_envelope(store: Store, request: ApiRequest, project_id: int, query: Mapping[str, str]) -> Response:
    project = _authorised_project(store, request, project_id, query)
    raw = decode_body(request.body, request.headers.get("content-encoding", ""))
    header, items = parse_envelope(raw)
    event_id = header.get("event_id")
    with store.lock:
        store.envelopes.append({"project": project.slug, "header": header, "items": [h for h, _ in items]})
        for item_header, payload in items:
            if item_header["type"] in EVENT_ITEM_TYPES:
                event = _json_payload(payload)
                event_id = event_id or event.get("event_id")
                store.events.append(dict(event, _project=project.slug, _type=item_header["type"]))
    return Response(200, {"id": event_id})


def _authorised_project(store: Store, request: ApiRequest, project_id: int, query: Mapping[str, str]) -> Project:
    auth_header = request.headers.get("x-sentry-auth")
    if auth_header:
        pairs = parse_sentry_auth(auth_header)
    elif "sentry_key" in query:
        pairs = dict(query)
    else:
        raise detail(401, "missing authorization information")
    key = pairs.get("sentry_key")
    if not key:
        raise detail(401, "missing authorization information")
    if pairs.get("sentry_version", "7") != "7":
        raise detail(400, f"unsupported protocol version ({pairs['sentry_version']})")
    with store.lock:
        project = next((p for p in store.projects if p.id == project_id), None)
        if project is None or project.public_key != key:
            raise detail(403, "event submission rejected with_reason: ProjectId" if project is None else "invalid api key")
    return project


def _json_payload(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except ValueError as error:
        raise detail(400, "invalid event payload: not JSON") from error
    if not isinstance(value, dict):
        raise detail(400, "invalid event payload: not an object")
    return value
