"""``SentryEmulator``: a real HTTP/1.1 server on 127.0.0.1 in a background thread."""
from __future__ import annotations

import itertools
import json
import socket
import struct
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from .api import Api, ApiRequest, Response, Store
from .contract import ContractChecker, PendingRequest, content_type_of
from .envelope import ENVELOPE_PATH, handle_envelope
from .faults import Fault, FaultPlan, sleep
from .state import Organization, Project, Release, Repository

DEFAULT_ORG = "acme"
DEFAULT_PROJECT = "shop"
DEFAULT_TOKEN = "sntryu_" + "5e" * 32
DEFAULT_RO_TOKEN = "sntryu_" + "0d" * 32
DEFAULT_SCOPES = ("project:releases", "project:read", "project:write", "org:read")
READ_ONLY_SCOPES = ("org:read",)


@dataclass
class RecordedRequest:
    """One request as the emulator saw it, and what it answered."""

    method: str
    path: str  # percent-encoded, as sent
    query: dict[str, str]  # last value per key; all pairs are in ``query_pairs``
    query_pairs: list[tuple[str, str]]
    headers: httpx.Headers
    body: bytes
    json: Any
    connection_id: int
    new_connection: bool
    started: float
    status: int | None = None  # None: no answer (dropped or reset)
    response: Any = None
    fault: str | None = None
    duration: float = 0.0

    @property
    def decoded_path(self) -> str:
        return unquote(self.path)


@dataclass
class _Connection:
    id: int
    requests: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like uwsgi http11 and sentry.io
    server: _Server

    def setup(self) -> None:
        # An idle keep-alive connection is closed after this long (about 4 s on a real server).
        self.timeout = self.server.emulator.keepalive_timeout
        # Headers and body go out in two writes; without this the body waits for the client's
        # delayed ACK (~40 ms) on every reused keep-alive connection, which real servers don't do.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
        self.conn = _Connection(next(self.server.connection_ids))
        self.server.track(self.connection, opened=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, opened=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet server
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        self.conn.requests += 1
        body = self._read_body()
        record = self.server.emulator._record(self, body)
        try:
            self.server.emulator._answer(self, record)
        finally:
            record.duration = time.monotonic() - record.started

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def send_json(self, status: int, body: Any, headers: dict[str, str]) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()

    def hang_up(self, reset: bool) -> None:
        """Close without answering; ``reset`` sends a TCP RST instead of a FIN."""
        self.close_connection = True
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        else:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], emulator: SentryEmulator) -> None:
        self.emulator = emulator
        self.connection_ids = itertools.count(1)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, sock: socket.socket, opened: bool) -> None:
        with self._open_lock:
            (self._open.add if opened else self._open.discard)(sock)

    def close_all(self) -> None:
        with self._open_lock:
            open_sockets, self._open = list(self._open), set()
        for sock in open_sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class SentryEmulator:
    """Sentry's release API on loopback, enforcing shared/sentry-api/RULES.md.

    State setup: ``add_org``, ``add_project``, ``add_token``, ``add_repo``, ``add_release``;
    defaults ``org``/``project``/``token``/``ro_token``. Introspection: ``requests``,
    ``releases()``, ``release()``, ``deploys()``, ``commits()``, ``events``.
    Misbehaviour: ``faults``, ``latency``, ``connect_latency``. Contract: ``contract_violations``.
    """

    def __init__(self, port: int = 0, *, defaults: bool = True, contract: ContractChecker | None = None) -> None:
        self.store = Store()
        self.api = Api(self.store)
        self.faults = FaultPlan()
        self.contract = contract if contract is not None else ContractChecker()
        self.latency = 0.0
        self.connect_latency = 0.0
        self.keepalive_timeout = 4.0
        self.allow_contract_violations = False
        self._requested_port = port
        self._with_defaults = defaults
        self._log_lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Called with the emulator at the end of every reset(), e.g. to re-apply CLI options.
        self.setup_hooks: list[Callable[[SentryEmulator], None]] = []
        self.reset()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SentryEmulator:
        if self._server is None:
            self._server = _Server(("127.0.0.1", self._requested_port), self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sentry-emulator", daemon=True
            )
            self._thread.start()
            self.contract.warm_up()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_all()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> SentryEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start()")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        """Fresh state: the default org/project/tokens, no faults, no latency, empty logs."""
        self.store.clear()
        self.store.deploys_latest_only = True
        self.store.nested_errors_by_index = True
        self.store.commit_processing_time = 0.0
        self.faults.clear()
        self.latency = self.connect_latency = 0.0
        self.allow_contract_violations = False
        self.contract.clear()
        self.server_errors: list[str] = []
        self.reset_log()
        if self._with_defaults:
            self.org = self.add_org(DEFAULT_ORG)
            self.project = self.add_project(self.org, DEFAULT_PROJECT)
            self.token = DEFAULT_TOKEN
            self.ro_token = DEFAULT_RO_TOKEN
            self.add_token(self.token, DEFAULT_SCOPES)
            self.add_token(self.ro_token, READ_ONLY_SCOPES)
        for hook in self.setup_hooks:
            hook(self)

    def reset_log(self) -> None:
        with self._log_lock:
            self._requests = []

    # --- setup helpers -----------------------------------------------------------------------

    def add_org(self, slug: str) -> Organization:
        return self.store.add_org(slug)

    def add_project(self, org: str | Organization, slug: str) -> Project:
        return self.store.add_project(org, slug)

    def add_token(self, value: str, scopes: Sequence[str], org: str | Organization | None = None, projects: Sequence[str] | None = None) -> str:
        """A user token (``org=None``) or an org token valid for ``org`` only; ``projects`` limits a user token."""
        self.store.add_token(value, scopes, org, projects)
        return value

    def make_org_token(self, org: str | Organization | None = None, scopes: Sequence[str] = ("org:ci",)) -> str:
        """A real-format ``sntrys_`` org auth token whose payload points at this emulator."""
        return self.store.make_org_token(org or self.org, self.url if self._server else "http://127.0.0.1", scopes)

    def add_repo(
        self,
        org: str | Organization,
        name: str,
        provider: str | None = "integrations:github",
        url: str | None = None,
        status: str = "active",
        commits: Sequence[dict[str, Any]] = (),
    ) -> Repository:
        """A repository as an integration creates it; ``commits`` (oldest first) is what refs fetch."""
        repo = self.store.add_repo(org, name, provider, url, status)
        repo.remote_commits = [dict(commit) for commit in commits]
        return repo

    def add_release(
        self,
        org: str | Organization,
        version: str,
        projects: Sequence[str | Project] = (),
        *,
        commits: Sequence[dict[str, Any]] = (),
        date_created: datetime | None = None,
        date_released: datetime | None = None,
    ) -> Release:
        """Seed a release directly (no request, no validation)."""
        with self.store.lock:
            organization = self.store.org(org)
            release = self.store.create_release(organization, version, date_released=date_released)
            if date_created is not None:
                release.date_created = date_created
            for project in projects:
                release.projects.append(project if isinstance(project, Project) else self.store.project(organization, project))
            if commits:
                from .validation import parse_datetime

                prepared = [
                    dict(c, timestamp=parse_datetime(c["timestamp"])) if isinstance(c.get("timestamp"), str) else dict(c)
                    for c in commits
                ]
                self.store.set_commits(release, prepared)
            return release

    def lock_release(self, org: str | Organization, version: str, seconds: float = float("inf")) -> None:
        """Make commit updates of this release answer 409 "being processed" for a while."""
        with self.store.lock:
            release = self.store.find_release(self.store.org(org), version)
            if release is None:
                raise KeyError(version)
            release.locked_until = time.monotonic() + seconds

    def dsn(self, project: str | Project | None = None, org: str | Organization | None = None) -> str:
        target = self._project(project, org)
        return f"http://{target.public_key}@127.0.0.1:{self.port}/{target.id}"

    def _project(self, project: str | Project | None, org: str | Organization | None) -> Project:
        if isinstance(project, Project):
            return project
        return self.store.project(org or self.org, project or self.project.slug)

    # --- switches ----------------------------------------------------------------------------

    @property
    def deploys_latest_only(self) -> bool:
        """True (RULES.md §3.5): deploy lists keep the latest per (project, environment).
        False: every deploy, as Sentry 23.7.1 answered."""
        return self.store.deploys_latest_only

    @deploys_latest_only.setter
    def deploys_latest_only(self, value: bool) -> None:
        self.store.deploys_latest_only = value

    @property
    def nested_errors_by_index(self) -> bool:
        """True (RULES.md §3.3): ``{"commits": {"0": {...}}}``; False: 23.7.1's ``{"commits": {...}}``."""
        return self.store.nested_errors_by_index

    @nested_errors_by_index.setter
    def nested_errors_by_index(self, value: bool) -> None:
        self.store.nested_errors_by_index = value

    @property
    def commit_processing_time(self) -> float:
        """Seconds a commit update holds the release lock; overlapping updates get 409."""
        return self.store.commit_processing_time

    @commit_processing_time.setter
    def commit_processing_time(self, value: float) -> None:
        self.store.commit_processing_time = value

    # --- introspection -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._log_lock:
            return list(self._requests)

    def requests_to(self, method: str | None = None, path_contains: str = "") -> list[RecordedRequest]:
        return [
            r for r in self.requests if (method is None or r.method == method.upper()) and path_contains in r.decoded_path
        ]

    @property
    def connection_count(self) -> int:
        """Distinct TCP connections that carried the logged requests."""
        return len({r.connection_id for r in self.requests})

    @property
    def events(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return list(self.store.events)

    @property
    def envelopes(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return list(self.store.envelopes)

    def releases(self, org: str | Organization | None = None) -> list[dict[str, Any]]:
        with self.store.lock:
            return [r.to_json() for r in self.store.org_releases(self.store.org(org or self.org))]

    def release(self, org: str | Organization | None, version: str) -> dict[str, Any] | None:
        with self.store.lock:
            found = self.store.find_release(self.store.org(org or self.org), version)
            return found.to_json() if found else None

    def deploys(self, org: str | Organization | None, version: str) -> list[dict[str, Any]]:
        """Every deploy of the release, oldest first, each with its ``projects`` slugs."""
        with self.store.lock:
            found = self.store.find_release(self.store.org(org or self.org), version)
            if found is None:
                return []
            return [dict(d.to_json(), projects=[p.slug for p in d.projects]) for d in found.deploys]

    def commits(self, org: str | Organization | None, version: str) -> list[dict[str, Any]]:
        """The release's commits in list order, with patch sets."""
        with self.store.lock:
            found = self.store.find_release(self.store.org(org or self.org), version)
            if found is None:
                return []
            return [dict(c.to_json(), patch_set=list(c.patch_set), author_name=c.author_name) for c in found.commits]

    def head_commits(self, org: str | Organization | None, version: str) -> dict[str, dict[str, Any]]:
        with self.store.lock:
            found = self.store.find_release(self.store.org(org or self.org), version)
            return {name: dict(ref) for name, ref in found.head_commits.items()} if found else {}

    def repos(self, org: str | Organization | None = None) -> list[dict[str, Any]]:
        with self.store.lock:
            organization = self.store.org(org or self.org)
            return [repo.to_json() for repo in self.store.repos if repo.org is organization]

    @property
    def contract_violations(self) -> list[str]:
        """Requests that broke the published OpenAPI contract (checked on read)."""
        return list(self.contract.check_pending())

    def take_contract_violations(self) -> list[str]:
        """Return and forget the violations so far: for tests that send bad input on purpose."""
        found = self.contract_violations
        self.contract.violations = []
        return found

    @property
    def contract_skip_reason(self) -> str | None:
        return self.contract.skip_reason

    def state(self) -> dict[str, Any]:
        """The JSON dump served at ``GET /_emulator/state``."""
        with self.store.lock:
            releases = {
                org.slug: [
                    dict(
                        r.to_json(),
                        commits=[c.to_json() for c in r.commits],
                        headCommits=list(r.head_commits.values()),
                        deploys=[dict(d.to_json(), projects=[p.slug for p in d.projects]) for d in r.deploys],
                    )
                    for r in self.store.org_releases(org)
                ]
                for org in self.store.orgs
            }
            events = list(self.store.events)
            repos = [repo.to_json() for repo in self.store.repos]
        return {
            "releases": releases,
            "repos": repos,
            "events": events,
            "request_count": len(self.requests),
            "connection_count": self.connection_count,
            "requests": [
                {"method": r.method, "path": r.path, "status": r.status, "fault": r.fault, "connection": r.connection_id}
                for r in self.requests
            ],
            "contract_violations": self.contract_violations if self.contract.enabled else None,
        }

    # --- serving (called from handler threads) -----------------------------------------------

    def _record(self, handler: _Handler, body: bytes) -> RecordedRequest:
        parts = urlsplit(handler.path)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        record = RecordedRequest(
            method=handler.command,
            path=parts.path,
            query=dict(pairs),
            query_pairs=pairs,
            headers=httpx.Headers(list(handler.headers.items())),
            body=body,
            json=parsed,
            connection_id=handler.conn.id,
            new_connection=handler.conn.requests == 1,
            started=time.monotonic(),
        )
        if not parts.path.startswith("/_emulator/"):
            with self._log_lock:
                self._requests.append(record)
            if parts.path.startswith("/api/0/"):
                self.contract.record(
                    PendingRequest(
                        record.method,
                        record.path,
                        tuple(pairs),
                        tuple(handler.headers.items()),
                        body,
                        content_type_of(list(handler.headers.items())),
                    )
                )
        return record

    def _answer(self, handler: _Handler, record: RecordedRequest) -> None:
        if record.path.startswith("/_emulator/"):
            self._send(handler, record, self._control(record))
            return
        sleep(self.latency + (self.connect_latency if record.new_connection else 0.0))
        fault = self.faults.take(record.method, record.path)
        if fault is None:
            self._send(handler, record, self._respond_safely(record))
            return
        record.fault = fault.describe()
        sleep(fault.delay)
        response = self._respond_safely(record) if fault.process or not fault.status and not (fault.drop or fault.reset) else None
        sleep(fault.stall)
        if fault.drop or fault.reset:
            handler.hang_up(reset=fault.reset)
            return
        if fault.status is not None:
            response = Response(fault.status, fault.answer_body(), fault.answer_headers())
        assert response is not None
        self._send(handler, record, response)

    def _send(self, handler: _Handler, record: RecordedRequest, response: Response) -> None:
        record.status = response.status
        record.response = response.body
        try:
            handler.send_json(response.status, response.body, response.headers)
        except OSError:
            handler.close_connection = True  # the client gave up (e.g. its timeout fired)

    def _respond_safely(self, record: RecordedRequest) -> Response:
        """An emulator bug answers 500 and is kept in ``server_errors`` for the fixture to report."""
        try:
            return self._respond(record)
        except Exception:
            self.server_errors.append(f"{record.method} {record.path}:\n{traceback.format_exc()}")
            return Response(500, {"detail": "Internal Error", "errorId": "emulator-bug"})

    def _respond(self, record: RecordedRequest) -> Response:
        request = ApiRequest(record.method, record.path, record.query_pairs, record.headers, record.body, self.url)
        envelope = ENVELOPE_PATH.match(record.path)
        if envelope is not None and record.method == "POST":
            return handle_envelope(self.store, request, int(envelope.group("project_id")), record.query)
        return self.api.handle(request)

    def _control(self, record: RecordedRequest) -> Response:
        """Out-of-process hooks: state dump, reset, and faults as JSON keyword arguments."""
        if record.path == "/_emulator/state" and record.method == "GET":
            return Response(200, self.state())
        if record.path == "/_emulator/reset" and record.method == "POST":
            self.reset()
            return Response(200, {"ok": True})
        if record.path == "/_emulator/faults" and record.method == "POST":
            options = record.json if isinstance(record.json, dict) else {}
            fault: Fault = self.faults.add(**options)
            return Response(201, {"fault": fault.describe()})
        return Response(404, {"detail": "unknown emulator control path"})
