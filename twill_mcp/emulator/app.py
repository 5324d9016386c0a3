"""The emulator as an ASGI app: record → faults → route → auth → rate limit → validate → handle.

Faults sit in front of auth and rate limiting because they stand for the network and
the edge, which fail before Twill's own code runs. The per-request pieces live on
`app.state` (read through `scope["app"]`), so a test can swap any of them at any time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from twill_mcp.emulator.errors import INTERNAL_ERROR, RATE_LIMITED, UNAUTHORIZED, EmulatedError, envelope
from twill_mcp.emulator.faults import FaultMiddleware, FaultPlan
from twill_mcp.emulator.operations import bundled_operations, parse_body, parse_query, route, schema_errors
from twill_mcp.emulator.ops import HANDLERS, Ctx, EmulatorSettings, Reply
from twill_mcp.emulator.ratelimit import RateLimiter
from twill_mcp.emulator.recorder import RecorderMiddleware, RequestRecorder
from twill_mcp.emulator.state import EmulatorState

logger = logging.getLogger(__name__)

DEMO_KEY = "twk_emulator_demo_key"


def _authenticate(header: str | None, keys: Collection[str]) -> str:
    if not header:
        raise EmulatedError(401, UNAUTHORIZED, "Missing API key: send Authorization: Bearer <key>")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or token not in keys:
        raise EmulatedError(401, UNAUTHORIZED, "Invalid or missing API key")
    return token


class Dispatcher:
    """One ASGI endpoint for every path: routing is done here, on the raw path, from the spec."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self.respond(request)
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        holder = request.app.state
        try:
            return await self._handle(request, holder)
        except EmulatedError as err:
            return err.response()
        except Exception:
            logger.exception("emulator bug while answering %s %s", request.method, request.url.path)
            return JSONResponse(envelope(INTERNAL_ERROR, "Internal server error"), status_code=500)

    async def _handle(self, request: Request, holder: State) -> Response:
        raw_path = request.scope.get("raw_path", b"").decode("latin-1").partition("?")[0] or request.url.path
        op, params = route(holder.operations, request.method, raw_path)
        key = _authenticate(request.headers.get("authorization"), holder.api_keys)
        retry_after = holder.limiter.hit(key)
        if retry_after is not None:
            raise EmulatedError(429, RATE_LIMITED, "Rate limit exceeded", headers={"Retry-After": str(retry_after)})
        query = parse_query(op, request.query_params.multi_items())
        body = parse_body(op, await request.body())
        ctx = Ctx(holder.emulator, holder.settings, params, query, body, key, holder.closing)
        result = await HANDLERS[op.op_id](ctx)
        if not isinstance(result, Reply):
            return result
        status = result.status or op.success_status
        validator = op.response_validator
        if holder.validate_responses and validator is not None and status == op.success_status:
            problems = schema_errors(validator, result.body)
            if problems:
                # A success body off-spec is an emulator bug; fail loudly instead of teaching clients wrong shapes.
                raise EmulatedError(
                    500, INTERNAL_ERROR, f"Emulator response for {op.op_id} violates the spec", problems
                )
        return JSONResponse(result.body, status_code=status, headers=result.headers)


def create_app(
    state: EmulatorState | None = None,
    *,
    api_keys: Collection[str] = frozenset({DEMO_KEY}),
    faults: FaultPlan | None = None,
    rate_limit_per_minute: int = 100,
    rate_limit_per_hour: int = 1000,
    sse_interval: float = 0.2,
    sse_max_seconds: float = 30.0,
    legacy_endpoints: bool = False,
    validate_responses: bool = True,
) -> Starlette:
    """A Twill API at `/api/v1/...`. A limit of 0 disables that rate-limit window."""
    state = state if state is not None else EmulatorState()
    operations = bundled_operations()
    missing = {op.op_id for op in operations} - HANDLERS.keys()
    if missing:
        raise RuntimeError(f"spec operations without an emulator handler: {sorted(missing)}")
    app = Starlette(middleware=[Middleware(RecorderMiddleware), Middleware(FaultMiddleware)])
    # Every request goes to the dispatcher: a path route's pattern would not match an encoded
    # newline (`%0A`) and would answer Starlette's text/plain 404 instead of Twill's envelope.
    app.router.default = Dispatcher()
    app.state.emulator = state
    app.state.faults = faults if faults is not None else FaultPlan()
    app.state.recorder = RequestRecorder()
    app.state.api_keys = set(api_keys)
    app.state.limiter = RateLimiter(state.clock, [(rate_limit_per_minute, 60.0), (rate_limit_per_hour, 3600.0)])
    app.state.settings = EmulatorSettings(sse_interval, sse_max_seconds, legacy_endpoints)
    app.state.operations = operations
    app.state.validate_responses = validate_responses
    app.state.closing = threading.Event()
    return app
