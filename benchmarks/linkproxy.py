"""A TCP proxy on 127.0.0.1 that puts a slow link in front of a loopback server, and counts.

The link model is the one the emulator benchmark uses: each new connection costs 2 RTT (TCP and
TLS handshakes) and each request 1 RTT. A "request" here is a flight: bytes the client sends after
the server last spoke (or on a new connection) wait one RTT before they are passed on, and the
first flight of a connection waits 2 RTT more. A client that waits for `100 Continue` pays the
extra round trip it would pay on a real link.

The proxy reads HTTP/1.1 framing on both directions (Content-Length, chunked) only to count:
requests per connection, with method, path and the status of their answers. Bytes are passed on
as they are. It runs on its own thread with its own event loop.

    with LinkProxy("127.0.0.1", 9100, rtt=0.05) as proxy:
        ... point the client at proxy.url ...
        proxy.take()   # -> Traffic(connections, requests) since the last take()
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

CONNECT_RTTS = 2


@dataclass
class Exchange:
    connection: int
    method: str
    path: str
    status: Optional[int] = None


@dataclass
class Traffic:
    connections: int = 0
    exchanges: list[Exchange] = field(default_factory=list)
    holds: list[tuple[float, float]] = field(default_factory=list)   # (start, end) of each hold

    @property
    def held(self) -> float:
        """Seconds during which the link model held some bytes back: overlapping holds on
        connections used side by side count once."""
        total, reach = 0.0, float("-inf")
        for start, end in sorted(self.holds):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total

    @property
    def requests(self) -> int:
        return len(self.exchanges)

    def log(self) -> list[str]:
        return [f"{e.method} {e.path} {e.status if e.status is not None else '-'}" for e in self.exchanges]


class _Framing:
    """Incremental HTTP/1.1 message framing, enough to find where each message starts."""

    def __init__(self, responses: bool) -> None:
        self.responses = responses
        self.buffer = b""
        self.body_left = 0          # bytes of a Content-Length body still to come
        self.chunked = False
        self.until_close = False
        self.heads: list[str] = []  # start lines of the messages seen

    def feed(self, data: bytes) -> list[str]:
        """The start lines of the messages that began in `data` (and before, still unreported)."""
        self.buffer += data
        while self._step():
            pass
        heads, self.heads = self.heads, []
        return heads

    def _step(self) -> bool:
        if self.until_close:
            self.buffer = b""
            return False
        if self.body_left:
            taken = min(self.body_left, len(self.buffer))
            self.buffer, self.body_left = self.buffer[taken:], self.body_left - taken
            return bool(self.buffer) and not self.body_left
        if self.chunked:
            return self._chunk()
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4:]
        lines = head.split("\r\n")
        self.heads.append(lines[0])
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        status = lines[0].split(" ")[1] if self.responses else ""
        if self.responses and (status.startswith("1") or status in ("204", "304")):
            return True
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.chunked = True
        elif "content-length" in headers:
            self.body_left = int(headers["content-length"])
        elif self.responses:
            self.until_close = True
        return True

    def _chunk(self) -> bool:
        line_end = self.buffer.find(b"\r\n")
        if line_end < 0:
            return False
        size = int(self.buffer[:line_end].split(b";")[0].strip() or b"0", 16)
        if size == 0:
            trailer_end = self.buffer.find(b"\r\n\r\n", line_end)
            if trailer_end < 0:
                return False
            self.buffer = self.buffer[trailer_end + 4:]
            self.chunked = False
            return True
        if len(self.buffer) < line_end + 2 + size + 2:
            return False
        self.buffer = self.buffer[line_end + 2 + size + 2:]
        return True


class LinkProxy:
    def __init__(self, host: str, port: int, rtt: float = 0.05) -> None:
        self.upstream = (host, port)
        self.rtt = rtt
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Optional[asyncio.AbstractServer] = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._traffic = Traffic()
        self._tasks: set[asyncio.Task[None]] = set()

    def __enter__(self) -> LinkProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._connection, "127.0.0.1", 0), self._loop).result(10)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def take(self) -> Traffic:
        """What went through since the last call."""
        with self._lock:
            traffic, self._traffic = self._traffic, Traffic()
        return traffic

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        number = next(self._ids)
        task = asyncio.current_task()
        if task is not None:  # a strong reference while it runs; the loop keeps only weak ones
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        with self._lock:
            self._traffic.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        pending: list[Exchange] = []
        server_spoke = asyncio.Event()
        server_spoke.set()  # the client's first bytes open a flight
        await asyncio.gather(
            self._client_side(number, client_reader, server_writer, pending, server_spoke),
            self._server_side(server_reader, client_writer, pending, server_spoke),
            return_exceptions=True,
        )
        for writer in (client_writer, server_writer):
            writer.close()

    async def _client_side(self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           pending: list[Exchange], server_spoke: asyncio.Event) -> None:
        framing = _Framing(responses=False)
        first = True
        while data := await reader.read(65536):
            if server_spoke.is_set():
                hold = self.rtt * (1 + CONNECT_RTTS if first else 1)
                began = time.monotonic()
                await asyncio.sleep(hold)
                with self._lock:
                    self._traffic.holds.append((began, began + hold))
                server_spoke.clear()
                first = False
            for head in framing.feed(data):
                method, _, rest = head.partition(" ")
                exchange = Exchange(number, method, rest.rsplit(" ", 1)[0])
                pending.append(exchange)
                with self._lock:
                    self._traffic.exchanges.append(exchange)
            writer.write(data)
            await writer.drain()
        writer.close()  # the client is done: so is the upstream connection (the server keeps it alive)

    async def _server_side(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           pending: list[Exchange], server_spoke: asyncio.Event) -> None:
        framing = _Framing(responses=True)
        while data := await reader.read(65536):
            server_spoke.set()
            for head in framing.feed(data):
                status = int(head.split(" ")[1])
                if status >= 200 and pending:
                    pending.pop(0).status = status
            writer.write(data)
            await writer.drain()
        writer.close()
