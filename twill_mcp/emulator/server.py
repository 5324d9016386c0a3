"""The emulator on a real socket: uvicorn on 127.0.0.1 in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from twill_mcp.core.config import API_PREFIX
from twill_mcp.emulator.app import create_app
from twill_mcp.emulator.faults import DROP_EXTENSION, FaultPlan
from twill_mcp.emulator.recorder import RecordedRequest, RequestRecorder
from twill_mcp.emulator.state import EmulatorState

_START_TIMEOUT = 5.0
_STOP_TIMEOUT = 5.0


class EmulatorServer:
    """`with EmulatorServer(state) as server: ... server.origin ...`

    Keyword options other than `app` are passed to `create_app`.
    """

    def __init__(
        self,
        state: EmulatorState | None = None,
        *,
        faults: FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        app: Starlette | None = None,
        **options: Any,
    ) -> None:
        if app is not None and (state is not None or faults is not None or options):
            raise TypeError("pass either a ready app or the options to build one, not both")
        self.app = app if app is not None else create_app(state, faults=faults, **options)
        self.host = host
        self._requested_port = port
        self._sock: socket.socket | None = None
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- what tests read ----------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + API_PREFIX

    @property
    def state(self) -> EmulatorState:
        state: EmulatorState = self.app.state.emulator
        return state

    @property
    def faults(self) -> FaultPlan:
        faults: FaultPlan = self.app.state.faults
        return faults

    @property
    def recorder(self) -> RequestRecorder:
        recorder: RequestRecorder = self.app.state.recorder
        return recorder

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.recorder.requests

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> EmulatorServer:
        if self._thread is not None:
            raise RuntimeError("server already started")
        # Bind here, not in uvicorn, so the real port is known before the thread runs.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this: without it, a response written as headers then body
        # waits ~40 ms for a delayed ACK (Nagle), which made every emulated call cost 44 ms.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind((self.host, self._requested_port))
        self._sock.listen(128)
        self._port = self._sock.getsockname()[1]
        config = uvicorn.Config(
            self._with_drop_hook,
            log_level="warning",
            log_config=None,  # no stdout handlers: uvicorn's warnings reach stderr through logging's last resort
            access_log=False,
            proxy_headers=False,  # X-Forwarded-For must not rewrite scope["client"]: drops find sockets by it
            interface="asgi3",
            lifespan="off",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="twill-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("emulator server failed to start")
            time.sleep(0.005)
        return self

    def _serve(self) -> None:
        assert self._server is not None
        assert self._sock is not None
        self._server.run(sockets=[self._sock])

    def stop(self, *, wait: bool = True) -> None:
        """Stop serving. `wait=False` returns at once and lets the server finish its shutdown (~0.1 s, uvicorn's
        tick) in its own thread, closing its socket itself: for a test suite that starts hundreds of them."""
        if not wait and self._server is not None:
            self.app.state.closing.set()
            self._server.should_exit = True
            self._thread = None
            self._server = None
            return
        if self._server is not None and self._thread is not None:
            self.app.state.closing.set()
            self._server.should_exit = True
            self._thread.join(_STOP_TIMEOUT)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(_STOP_TIMEOUT)
        if self._sock is not None:
            self._sock.close()
        self._thread = None
        self._server = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- connection drops ---------------------------------------------------

    async def _with_drop_hook(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            extensions = {**scope.get("extensions", {}), DROP_EXTENSION: self._abort_connection}
            scope = {**scope, "extensions": extensions}
        await self.app(scope, receive, send)

    def _abort_connection(self, scope: Scope) -> None:
        """Close the request's socket with nothing sent, as a crashed proxy would."""
        client = tuple(scope.get("client") or ())
        assert self._server is not None
        for connection in list(self._server.server_state.connections):
            if getattr(connection, "client", None) == client:
                connection.transport.abort()
                return
        raise RuntimeError(f"no open connection from {client}")
