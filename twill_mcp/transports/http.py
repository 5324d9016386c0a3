"""Serve MCP over streamable HTTP: the SDK's app under uvicorn, stateless in both protocol eras.

No request depends on an earlier one (2026-07-28 is stateless by construction; 2025-11-25
clients get the SDK's `stateless_http`), so any worker or replica can serve any request and
a plain round-robin load balancer needs no sticky sessions.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from twill_mcp import __version__
from twill_mcp.core import metrics
from twill_mcp.core.config import LOOPBACK_HOSTS, SECRET_FIELDS, Settings, is_loopback
from twill_mcp.core.errors import ConfigError
from twill_mcp.core.network import check_port_free
from twill_mcp.server.build import server_for, settle
from twill_mcp.tools.arguments import MAX_ARGUMENT_BYTES
from twill_mcp.tools.call import effects
from twill_mcp.tools.composed import Tool
from twill_mcp.transports.connections import connection_limits
from twill_mcp.transports.draining import STOP_SIGNALS, InFlight, shutdown_grace, signal_name
from twill_mcp.transports.exchange import SingleExchange
from twill_mcp.transports.http_auth import InboundAuth, credentials_for
from twill_mcp.transports.http_middleware import CancelOnDisconnect, JsonRpcRefusals
from twill_mcp.transports.oauth.routes import build_oauth
from twill_mcp.upstream.budget import Budgets
from twill_mcp.upstream.http import TwillHttp

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
# Arguments are capped at MAX_ARGUMENT_BYTES; the envelope and \u-escaped text need headroom, no more.
MAX_REQUEST_BODY_BYTES = 4 * MAX_ARGUMENT_BYTES
WORKER_SETTINGS_VARIABLE = "TWILL_MCP_WORKER_SETTINGS"
AFTER_DRAIN_SECONDS = 1


def check_service(settings: Settings) -> None:
    """Refuse a configuration that would expose the server unprotected, saying what to set."""
    if is_loopback(settings.host):
        return
    if settings.auth == "env" and settings.http_token is None:
        raise ConfigError(
            f"serving on {settings.host} (not loopback) with --auth env would let anyone on the network use "
            "this server's Twill key: set TWILL_MCP_HTTP_TOKEN (callers then send Authorization: Bearer <token>), "
            "or use --auth passthrough (each caller sends their own Twill key)"
        )
    if not settings.allowed_hosts:
        raise ConfigError(
            f"serving on {settings.host} (not loopback) needs --allowed-hosts (TWILL_MCP_ALLOWED_HOSTS): the "
            "Host names clients use to reach this server, e.g. mcp.example.com,mcp.example.com:*; and "
            "--allowed-origins (TWILL_MCP_ALLOWED_ORIGINS) for browser-based clients. They protect against "
            "DNS rebinding."
        )


def check_auth_mode(settings: Settings) -> None:
    if settings.auth != "env" and settings.http_token is not None:
        raise ConfigError(
            f"TWILL_MCP_HTTP_TOKEN applies to --auth env only: with --auth {settings.auth} the Authorization "
            "header carries each caller's own credential"
        )
    if settings.auth == "oauth":
        check_oauth(settings)


def check_oauth(settings: Settings) -> None:
    """What `--auth oauth` cannot start without, each with its one-line fix."""
    if settings.public_url is None:
        raise ConfigError(
            "--auth oauth needs TWILL_MCP_PUBLIC_URL: the https origin clients reach, e.g. https://mcp.example.com "
            "(it is the issuer, and {public URL}" + settings.path + " the resource)"
        )
    if settings.oauth_secrets is None:
        raise ConfigError(
            "--auth oauth needs a secret to seal tokens with: set TWILL_MCP_OAUTH_SECRET=$(openssl rand -hex 32) "
            "(or TWILL_MCP_OAUTH_SECRET_FILE, or the keyring TWILL_MCP_OAUTH_SECRETS)"
        )
    host = urlsplit(settings.public_url).hostname or ""
    port = urlsplit(settings.public_url).port
    if not is_loopback(host) and not any(
        allowed in (host, f"{host}:*", f"{host}:{port}") for allowed in settings.allowed_hosts
    ):
        raise ConfigError(
            f"TWILL_MCP_PUBLIC_URL's host {host} is not in --allowed-hosts (TWILL_MCP_ALLOWED_HOSTS): add "
            f"{host},{host}:* so requests for it are not refused as DNS rebinding"
        )
    if settings.workers > 1 and settings.redis_url is None:
        # Used codes, revoked grants and refresh generations must be agreed on (oauth/store.py).
        raise ConfigError(
            "--auth oauth with --workers above 1 needs TWILL_MCP_REDIS_URL (e.g. redis://localhost:6379/0, and "
            "pip install 'twill-mcp[redis]'): workers must share used codes and revoked grants"
        )
    if settings.redis_url is not None and importlib.util.find_spec("redis") is None:
        raise ConfigError("TWILL_MCP_REDIS_URL needs the redis client: pip install 'twill-mcp[redis]'")


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """DNS-rebinding protection: Host and Origin must be ones this server is meant to be reached by."""
    hosts = list(settings.allowed_hosts)
    origins = list(settings.allowed_origins)
    if is_loopback(settings.host):
        # The port-less forms too: a proxy on port 80 sends them.
        hosts += [form for host in LOOPBACK_HOSTS for form in (host, f"{host}:*")]
        origins += [f"http://{form}" for host in LOOPBACK_HOSTS for form in (host, f"{host}:*")]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def build_app(settings: Settings, tools: Sequence[Tool], *, sandboxed: bool) -> ASGIApp:
    """The whole HTTP service: the stop rule, auth, tool calls in one exchange, then the SDK's streamable HTTP app
    (everything else), plus `GET /healthz`."""
    oauth = build_oauth(settings) if settings.auth == "oauth" else None
    http = TwillHttp(settings)
    server = server_for(settings, tools, sandbox=sandboxed, credentials=credentials_for(settings), http=http)
    in_flight = InFlight(effects(tools))
    server.middleware.append(in_flight.middleware)
    security = transport_security(settings)
    app = server.streamable_http_app(
        streamable_http_path=settings.path,
        json_response=settings.json_response,
        stateless_http=True,
        max_request_body_size=MAX_REQUEST_BODY_BYTES,
        transport_security=security,
        custom_starlette_routes=[
            Route(HEALTH_PATH, _healthz(http.budgets), methods=["GET"]),
            *(oauth.routes if oauth else []),
        ],
    )
    checked = SingleExchange(
        JsonRpcRefusals(app),
        server,
        path=settings.path,
        max_body=MAX_REQUEST_BODY_BYTES,
        json_response=settings.json_response,
        security=security,
    )
    open_paths = frozenset({HEALTH_PATH, *(oauth.open_paths if oauth else ())})
    service = InboundAuth(CancelOnDisconnect(checked), settings, open_paths=open_paths, oauth=oauth)
    return GracefulStop(service, in_flight, shutdown_grace(settings))


def _process_app(settings: Settings, tools: Sequence[Tool], *, sandboxed: bool) -> ASGIApp:
    app = build_app(settings, tools, sandboxed=sandboxed)
    settle()
    return app


def _healthz(budgets: Budgets) -> Callable[[Request], Awaitable[Response]]:
    async def healthz(request: Request) -> Response:
        # Liveness of this process only: a health check must not spend the Twill rate limit. Still "ok" when the
        # budgets fell back to this process's own (Redis down): calls are answered, and that is what it reports.
        return JSONResponse({"status": "ok", "rateBudget": await budgets.kept()})

    return healthz


def serve_http(settings: Settings, tools: Sequence[Tool], *, sandboxed: bool, where: str) -> None:
    """Serve until SIGTERM or Ctrl-C; calls in flight then get the shutdown grace (`GracefulStop`)."""
    check_auth_mode(settings)
    check_service(settings)
    check_port_free(settings.host, settings.port)
    if settings.metrics_port is not None:
        check_port_free(settings.host, settings.metrics_port)
    _quiet_sdk(settings.log_level)
    # Worker processes cannot inherit an app object: each builds its own from an import string.
    several = settings.workers > 1
    app = "twill_mcp.transports.http:worker_app" if several else _process_app(settings, tools, sandboxed=sandboxed)
    config = uvicorn_config(settings, app)
    ready = f"twill-mcp {__version__} serving {len(tools)} tools over http at %s; Twill API: {where}"
    ready += f"; auth: {settings.auth}"
    if not several:
        if settings.metrics_port is not None:
            metrics.start(settings.metrics_port, settings.host)
        _Server(config, settings, ready).run()
        return
    os.environ[WORKER_SETTINGS_VARIABLE] = _worker_settings(settings, sandboxed)
    # Before the workers start: they inherit where to write their samples.
    samples = None if settings.metrics_port is None else metrics.start_for_workers(settings.metrics_port, settings.host)
    sock = config.bind_socket()
    # Workers get the socket rebuilt from its descriptor, which asyncio no longer recognises as TCP, so
    # it leaves Nagle on: a reply written as headers then body waited ~40 ms for the client's delayed ACK.
    # Accepted connections inherit NODELAY from the listening socket.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # Listening now, not when the first worker is up, so that connections queue until one is.
    sock.listen(config.backlog)
    logger.info(ready + " (%d workers)", _url(settings, sock.getsockname()[1]), settings.workers)
    try:
        uvicorn.supervisors.Multiprocess(config, sockets=[sock]).run()
    finally:
        metrics.stop_for_workers(samples)


def uvicorn_config(settings: Settings, app: ASGIApp | str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        # Our own stderr logging (with its redaction) stays in charge; the per-call line replaces access logs.
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
        # What uvicorn's own shutdown waits for comes after `GracefulStop` has drained the calls: it only
        # lets the last answers be written.
        timeout_graceful_shutdown=AFTER_DRAIN_SECONDS,
        # Slow or half-open clients are cut off, and connections bounded: see transports/connections.py.
        **connection_limits(),
    )


class GracefulStop:
    """The stop rule of `draining.py` under uvicorn, in a single process and in each `--workers` process.

    uvicorn's own reaction to SIGTERM ends every response stream at once (sse-starlette reacts to its exit
    flag), so the signal is taken first: new connections and requests are refused, calls in flight get the
    grace, those still running are cut and answered with what is unknown, and only then is uvicorn told.
    """

    def __init__(self, app: ASGIApp, in_flight: InFlight, grace: float) -> None:
        self.app = app
        self._in_flight = in_flight
        self._grace = grace
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            self._take_signals()
        elif self._stopping and scope["type"] == "http":
            # A request on a connection kept alive: a load balancer sends it to another replica.
            refusal = JSONResponse(
                {"error": "twill-mcp is stopping; send this request again"},
                status_code=503,
                headers={"Connection": "close", "Retry-After": "1"},
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _take_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach only the main thread: an app served from another thread is stopped by its owner
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            uvicorn_handler = signal.getsignal(signum)
            if callable(uvicorn_handler):
                signal.signal(signum, functools.partial(self._signalled, loop, uvicorn_handler))

    def _signalled(self, loop: asyncio.AbstractEventLoop, uvicorn_handler: Any, signum: int, frame: Any) -> None:
        # A signal handler interrupts whatever runs: everything it decides is done in a task of the loop.
        loop.call_soon_threadsafe(self._start, uvicorn_handler, signum, frame)

    def _start(self, uvicorn_handler: Any, signum: int, frame: Any) -> None:
        self._tasks.add(task := asyncio.get_running_loop().create_task(self._stop(uvicorn_handler, signum, frame)))
        task.add_done_callback(self._tasks.discard)

    async def _stop(self, uvicorn_handler: Any, signum: int, frame: Any) -> None:
        if self._stopping:
            self._in_flight.exit_at_once(signum)
        self._stopping = True
        server = getattr(uvicorn_handler, "__self__", None)
        if isinstance(server, uvicorn.Server):
            for listening in server.servers:
                listening.close()
        logger.info(
            "%s: accepting no more requests; %d in flight get up to %g s",
            signal_name(signum),
            len(self._in_flight),
            self._grace,
        )
        await self._in_flight.drain(self._grace)
        uvicorn_handler(signum, frame)


def _quiet_sdk(level: str) -> None:
    # Stateless serving ends a transport per request, which the SDK logs at INFO: noise, per request.
    logging.getLogger("mcp.server.streamable_http").setLevel(max(logging.WARNING, logging.getLevelName(level)))


class _Server(uvicorn.Server):
    """uvicorn's server, saying where it serves once it accepts connections (port 0 resolved)."""

    def __init__(self, config: uvicorn.Config, settings: Settings, ready: str) -> None:
        super().__init__(config)
        self._settings = settings
        self._ready = ready

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.servers:
            logger.info(self._ready, _url(self._settings, self.servers[0].sockets[0].getsockname()[1]))


def _url(settings: Settings, port: int) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{port}{settings.path}"


def _worker_settings(settings: Settings, sandboxed: bool) -> str:
    """What a worker process needs to rebuild the app; secrets stay where they came from (env or file)."""
    values = settings.model_dump(mode="json", exclude=set(SECRET_FIELDS))
    if sandboxed and settings.api_key is not None:
        values["api_key"] = settings.api_key.get_secret_value()  # the emulator's demo key, not a secret
    return json.dumps({"settings": values, "sandboxed": sandboxed})


def worker_app() -> ASGIApp:
    """The app in a `--workers` process: the parent's settings, from the environment it passed down."""
    from twill_mcp.core.logs import configure_logging
    from twill_mcp.tools.catalog import exposed_tools

    passed = json.loads(os.environ[WORKER_SETTINGS_VARIABLE])
    values = passed["settings"]
    if "api_key" in values:
        values["api_key"] = SecretStr(values["api_key"])
    settings = Settings.load(**values)
    configure_logging(settings.log_level, secrets=settings.secrets(), log_format=settings.log_format)
    _quiet_sdk(settings.log_level)
    if settings.metrics_port is not None:
        metrics.record_in_worker()
    return _process_app(settings, exposed_tools(settings), sandboxed=passed["sandboxed"])
