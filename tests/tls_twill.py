"""An https upstream on 127.0.0.1 whose certificate comes from a CA made for the test (trustme), not the system's.

It answers every request with a small JSON body and records what arrived, which is all the
tests of trust and tunnels need; the Twill emulator stays behind plain http in tests/fake_twill.py.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme

ANSWER = {"workspaceName": "TLS Workspace", "workspaceSlug": "tls", "workspaceId": "ws_tls"}


@dataclass
class TlsTwill:
    origin: str
    ca_file: Path
    paths: list[str] = field(default_factory=list)


@contextmanager
def tls_twill(directory: Path) -> Iterator[TlsTwill]:
    ca = trustme.CA()
    ca_file = directory / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    upstream = TlsTwill(f"https://127.0.0.1:{server.server_address[1]}", ca_file)
    server.upstream = upstream  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        server.shutdown()
        server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.upstream.paths.append(self.path)  # type: ignore[attr-defined]
        body = json.dumps(ANSWER).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: pytest shows stderr of failing tests, and this would only be noise."""
