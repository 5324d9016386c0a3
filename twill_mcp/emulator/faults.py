"""Deterministic fault injection, applied in front of the API as a proxy or edge would.

Faults are counted, not random: "the next N matching requests" get them, so a test
knows exactly which request fails. When several counters are armed, one request
consumes one fault, in the order of `KINDS`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import anyio
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from twill_mcp.emulator.errors import INTERNAL_ERROR, RATE_LIMITED, envelope

DROP_EXTENSION = "twill.emulator.drop_connection"
"""Scope extension a server may provide: a callable(scope) that aborts the request's connection."""

KINDS = ("drop", "500", "502", "503", "429", "malformed", "html")
_ALIASES = {"5xx": "500", "json": "malformed", "bad_json": "malformed"}
_FIELDS = {
    "drop": "drop",
    "500": "server_error",
    "502": "bad_gateway",
    "503": "unavailable",
    "429": "rate_limited",
    "malformed": "malformed",
    "html": "html",
}
_HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>{title}</title></head>"
    "<body><h1>{title}</h1><p>The emulator was told to answer this way.</p></body></html>"
)


class ConnectionDropped(Exception):
    """A drop fault without a server that can abort the socket (e.g. in-process ASGI tests)."""


@dataclass
class FaultPlan:
    latency: float = 0.0
    """Seconds added before every matching request."""
    drop: int = 0
    server_error: int = 0
    """500 with the JSON error envelope."""
    bad_gateway: int = 0
    """502 with an HTML page, as from a proxy."""
    unavailable: int = 0
    """503 with an HTML page."""
    rate_limited: int = 0
    malformed: int = 0
    """200 whose JSON body is cut off."""
    html: int = 0
    """200 with an HTML page instead of JSON."""
    path_contains: str | None = None
    retry_after: int = 1
    injected: list[tuple[str, str]] = field(default_factory=list)
    """(kind, raw path) of every fault served, in order."""
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        """`"latency=0.5,5xx=3,429=2,html=1,drop=1,path=/cancel,retry_after=2"`."""
        plan = cls()
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, value = item.partition("=")
            name = _ALIASES.get(name.strip().lower(), name.strip().lower())
            value = value.strip()
            if not sep or not value:
                raise ValueError(f"fault {item!r} needs a value, e.g. {name}=1")
            try:
                if name == "latency":
                    plan.latency = float(value)
                elif name == "path":
                    plan.path_contains = value
                elif name == "retry_after":
                    plan.retry_after = int(value)
                elif name in _FIELDS:
                    setattr(plan, _FIELDS[name], int(value))
                else:
                    raise ValueError(f"unknown fault {name!r}; known: latency, path, retry_after, {', '.join(KINDS)}")
            except ValueError as exc:
                raise ValueError(f"bad fault {item!r}: {exc}") from None
        return plan

    def matches(self, path: str) -> bool:
        return self.path_contains is None or self.path_contains in path

    def take(self, path: str) -> str | None:
        """Consume and return the next fault kind for a request to `path`, if any."""
        if not self.matches(path):
            return None
        with self._lock:
            for kind in KINDS:
                attr = _FIELDS[kind]
                if getattr(self, attr) > 0:
                    setattr(self, attr, getattr(self, attr) - 1)
                    self.injected.append((kind, path))
                    return kind
        return None

    def response(self, kind: str) -> Response:
        if kind == "500":
            return JSONResponse(envelope(INTERNAL_ERROR, "Injected internal error"), status_code=500)
        if kind == "429":
            body = envelope(RATE_LIMITED, "Rate limit exceeded (injected)")
            return JSONResponse(body, status_code=429, headers={"Retry-After": str(self.retry_after)})
        if kind == "malformed":
            return Response(b'{"task": {"id": "', status_code=200, media_type="application/json")
        status, title = {"502": (502, "502 Bad Gateway"), "503": (503, "503 Service Unavailable")}.get(
            kind, (200, "Twill")
        )
        return Response(_HTML_PAGE.format(title=title), status_code=status, media_type="text/html")


class FaultMiddleware:
    """Looks the plan up on every request, so tests may swap `app.state.faults` at any time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plan: FaultPlan | None = getattr(scope["app"].state, "faults", None)
        if scope["type"] != "http" or plan is None:
            await self.app(scope, receive, send)
            return
        path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
        if plan.latency > 0 and plan.matches(path):
            await anyio.sleep(plan.latency)
        kind = plan.take(path)
        if kind == "drop":
            await drop_connection(scope)
        elif kind is not None:
            await plan.response(kind)(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def drop_connection(scope: Scope) -> None:
    abort = scope.get("extensions", {}).get(DROP_EXTENSION)
    if abort is None:
        raise ConnectionDropped("connection dropped by fault injection")
    abort(scope)
    # Let the server see the closed transport before this app returns, or it would send its own 500.
    await anyio.sleep(0.05)
