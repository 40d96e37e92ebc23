"""A tiny HTTP(S) server on 127.0.0.1 whose answers a test decides: for servers that are not the emulator."""

from __future__ import annotations

import http.server
import ssl
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

# (status, headers, body) for a method and path
Answer = Callable[[str, str], "tuple[int, dict[str, str], bytes]"]


@contextmanager
def stub_server(answer: Answer, tls: Optional[ssl.SSLContext] = None) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._reply()

        def do_POST(self) -> None:
            self._reply()

        def _reply(self) -> None:
            status, headers, body = answer(self.command, self.path)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
