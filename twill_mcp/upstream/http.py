"""The one place that talks HTTP to Twill: it moves bytes, and decides nothing about what they mean.

One shared `httpx2.AsyncClient` per server: a keep-alive pool, explicit timeouts, no
redirects (a key must only ever reach the configured origin), capped body reads,
attempts and retries within one deadline, and whether a failed request *may have
reached Twill* traced rather than guessed. The caller's key comes with each call;
what an answer means is asked of `outcomes` (may it be repeated?) and of the tool's
reader (what is the result, or the error?).
"""

from __future__ import annotations

import logging
import random
import ssl
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

import anyio
import httpx2
from opentelemetry.context import Context
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, get_current_span, get_tracer, set_span_in_context

from twill_mcp import __version__
from twill_mcp.core import metrics, tracing
from twill_mcp.core.config import KEY_FIXES, Settings
from twill_mcp.core.credentials import Credentials, Scrub
from twill_mcp.core.errors import MissingApiKey, ToolCallError, UnusableApiKey, UpstreamUnreachable
from twill_mcp.core.network import mask
from twill_mcp.core.sanitize import for_agent
from twill_mcp.upstream.answer import Answer, Reader
from twill_mcp.upstream.budget import Budgets, Sleep, budgets_for
from twill_mcp.upstream.decode import Incoming
from twill_mcp.upstream.failures import read_failure
from twill_mcp.upstream.outcomes import (
    GRANT_ENDED_HINT,
    MIN_ATTEMPT_SECONDS,
    RATE_LIMITED,
    UNAUTHORIZED,
    Effect,
    backoff,
    lost,
    not_sent,
    repeatable,
    retry_after_seconds,
)
from twill_mcp.upstream.request import PreparedRequest
from twill_mcp.upstream.route import route, tls_context

logger = logging.getLogger(__name__)
# A no-op until an OpenTelemetry SDK is configured (`opentelemetry-instrument`); the MCP SDK imports the API anyway.
_TRACER = get_tracer("twill_mcp", __version__)

USER_AGENT = f"twill-mcp/{__version__}"
T = TypeVar("T")
# Every open call holds one connection, and a log stream may stay open for minutes: with httpx's
# default of 100, a hosted server's 101st open stream waited for a free connection and failed.
# Idle connections kept for reuse: at least the calls one busy client keeps in flight.
POOL_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


class TwillHttp:
    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        sleep: Sleep = anyio.sleep,
        rng: random.Random | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        self._settings = settings
        self._route = route(settings)
        self._transport = transport
        self._opened: httpx2.AsyncClient | None = None
        self._closed = False
        # Budgets it was given belong to whoever gave them; the ones it made, it closes.
        self._owns_budgets = budgets is None
        self.budgets = budgets_for(settings) if budgets is None else budgets
        self._sleep = sleep
        self._rng = rng

    @property
    def _client(self) -> httpx2.AsyncClient:
        # Made at the first call, not at start-up: its TLS context (the CA bundle read and parsed)
        # costs ~20-40 ms that a host would otherwise wait for before its first answer.
        if self._opened is None:
            if self._closed:
                raise RuntimeError("Cannot send a request, as the client has been closed.")
            self._opened = self._open()
        return self._opened

    def _open(self) -> httpx2.AsyncClient:
        settings = self._settings
        try:
            trust = tls_context(settings.ssl_cert_file)
        except (OSError, ssl.SSLError) as exc:
            # Start-up only checked that the file holds a certificate; a bad one inside shows here, once.
            raise UpstreamUnreachable(
                f"The CA certificates in {settings.ssl_cert_file!r} (SSL_CERT_FILE) could not be loaded "
                f"({type(exc).__name__}); nothing was sent.",
                hint="Fix or unset SSL_CERT_FILE and restart the server; `twill-mcp doctor` checks it.",
            ) from None
        proxy = self._route.proxy
        transport = self._transport
        if transport is None:
            # Imported with the client: httpcore2 (what sockets builds on) is ~20 ms that start-up need not wait for.
            from twill_mcp.upstream import sockets

            # The proxy and CAs the settings name, and nothing else the environment holds.
            transport = sockets.transport(
                verify=trust,
                limits=POOL_LIMITS,
                trust_env=False,
                proxy=_proxy(proxy.get_secret_value(), trust) if proxy else None,
            )
        return httpx2.AsyncClient(
            base_url=settings.base_url,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            timeout=httpx2.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.read_timeout,
                pool=settings.connect_timeout,
            ),
            follow_redirects=False,
            transport=transport,
            trust_env=False,
        )

    def __repr__(self) -> str:
        return f"TwillHttp(base_url={self._settings.base_url!r})"

    @property
    def call_timeout(self) -> float:
        """Seconds one whole call may last: what a call that waits must end within."""
        return self._settings.call_timeout

    async def __aenter__(self) -> TwillHttp:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        if self._opened is not None:
            await self._opened.aclose()
        if self._owns_budgets:
            await self.budgets.aclose()

    async def exchange(
        self,
        request: PreparedRequest,
        credentials: Credentials,
        effect: Effect,
        reader: Reader[T],
    ) -> T:
        """Send one request for these credentials, retrying what `outcomes` allows, and return what the reader makes
        of the answer (or raise the error it makes of it).

        Every attempt and every wait fits in one deadline (`call_timeout`).
        """
        if credentials.api_key is None and credentials.key_problem is not None:
            variable, _, reason = credentials.key_problem.partition(": ")
            raise UnusableApiKey(
                f"The Twill API key from {variable} {reason}, so nothing was sent.",
                hint=f"Ask the user to {KEY_FIXES[variable]}.",
            )
        if credentials.api_key is None:
            raise MissingApiKey(
                "No Twill API key is configured, so nothing was sent.",
                hint=(
                    "Ask the user to set TWILL_API_KEY in this MCP server's environment (a key from "
                    "Twill workspace settings → API Keys) and restart the server."
                ),
            )
        key = credentials.api_key.get_secret_value()
        scrub = credentials.scrub
        incoming = Incoming(scrub, raw_text=self._settings.raw_text)
        headers = {"Authorization": f"Bearer {key}", "Accept": reader.accept}
        # Our attempt spans continue the caller's trace: the SDK's request span when tracing is on, else the
        # caller's traceparent (which, with tracing off, is what Twill gets, as it came).
        parent = None if get_current_span().get_span_context().is_valid else _caller_context(credentials)
        budgets, key_id = self.budgets, credentials.key_id
        deadline = anyio.current_time() + self._settings.call_timeout
        attempt = 0
        while True:
            await budgets.acquire(key_id, deadline)
            trace = _SendTrace()
            with _attempt_span(request, attempt, parent) as span:
                sent = _traced(headers, span, credentials)
                try:
                    with anyio.fail_after(max(deadline - anyio.current_time(), 0.001)):
                        async with self._client.stream(
                            request.method,
                            request.path,
                            params=list(request.params) or None,
                            json=request.json_body if request.has_body else None,
                            headers=sent,
                            timeout=self._timeout(reader, deadline),
                            extensions={"trace": trace},
                        ) as response:
                            status = response.status_code
                            metrics.recorder.upstream_answered(str(status))
                            span.set_attribute("http.response.status_code", status)
                            if status == RATE_LIMITED:
                                # Twill counts for every client of this key: hold them all back, not just this call.
                                await budgets.pause(key_id, self._wait(response.headers, attempt))
                            if repeatable(status, effect):
                                wait = self._wait(response.headers, attempt)
                                if self._fits(attempt, wait, deadline):
                                    await response.aclose()
                                    raise _Retry(wait, str(status))
                            answer = Answer(
                                request.path, response, self._settings.max_response_bytes, deadline, scrub, incoming
                            )
                            if 200 <= status < 300:
                                span.set_attribute("twill_mcp.retried", False)
                                return await reader.success(answer)
                            failure = read_failure(await answer.read(), effect)
                            if status == UNAUTHORIZED and credentials.on_refused is not None:
                                await credentials.on_refused()
                                failure.hint = GRANT_ENDED_HINT
                            raise failure
                except _Retry as retry:
                    wait, why = retry.wait, retry.why
                except TimeoutError:
                    # The deadline itself: nothing is left to retry with.
                    metrics.recorder.upstream_answered("no_answer")
                    raise _failed(span, self._failure(effect, trace, None)) from None
                except (httpx2.TransportError, httpx2.DecodingError) as exc:
                    # A body that fails to decode (bad gzip) was sent and answered: the same as a lost answer.
                    if not isinstance(exc, httpx2.DecodingError):
                        metrics.recorder.upstream_answered("no_answer")
                    failure = self._failure(effect, trace, exc, scrub)
                    wait = self._backoff(attempt)
                    if not (failure.is_retryable and self._fits(attempt, wait, deadline)):
                        raise _failed(span, failure) from None
                    why = failure.error_code
                except ToolCallError as error:
                    raise _failed(span, error) from None
                span.set_attribute("twill_mcp.retried", True)
            attempt += 1
            metrics.recorder.upstream_retried(why)
            shown = f"HTTP {why}" if why.isdigit() else why
            logger.info("retrying to %s after %s, in %.1f s (retry %d)", effect.action, shown, wait, attempt)
            await self._sleep(wait)

    def _through(self) -> str:
        proxy = self._route.proxy
        return f" through the proxy {mask(proxy.get_secret_value())}" if proxy else ""

    def _timeout(self, reader: Reader[Any], deadline: float) -> httpx2.Timeout:
        timeout = self._client.timeout
        if not reader.streams:
            return timeout
        # A quiet stream is not a dead one: reads may wait as long as the call may last.
        left = max(deadline - anyio.current_time(), 1.0)
        return httpx2.Timeout(connect=timeout.connect, read=left, write=timeout.write, pool=timeout.pool)

    def _wait(self, headers: httpx2.Headers, attempt: int) -> float:
        """Twill's Retry-After when it gave one, else backoff."""
        return retry_after_seconds(headers.get("retry-after")) or self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        return backoff(attempt, self._rng)

    def _fits(self, attempt: int, wait: float, deadline: float) -> bool:
        """Another attempt is allowed, and its wait leaves time for it within the deadline."""
        return attempt < self._settings.max_retries and anyio.current_time() + wait + MIN_ATTEMPT_SECONDS < deadline

    def _failure(
        self, effect: Effect, trace: _SendTrace, exc: Exception | None, scrub: Scrub | None = None
    ) -> ToolCallError:
        """A transport failure (exc None: the deadline) in words, given whether the request left us."""
        timed_out = exc is None or isinstance(exc, httpx2.TimeoutException)
        if exc is None:
            limit, why = self._settings.call_timeout, f"no answer within the {self._settings.call_timeout:g} s deadline"
        elif timed_out:
            limit, why = self._settings.connect_timeout, f"no answer within {self._settings.read_timeout:g} s"
        else:
            reason = _reason(exc, scrub)
            limit, why = self._settings.connect_timeout, f"the connection failed mid-request ({reason})"
        if trace.sent:
            return lost(effect, why, timed_out=timed_out)
        if timed_out:
            return not_sent(f"Could not reach Twill{self._through()} within {limit:g} s", timed_out=True)
        where = f"Could not connect to Twill at {self._settings.base_url}{self._through()} ({_reason(exc, scrub)})"
        return not_sent(where, timed_out=False)


def _caller_context(credentials: Credentials) -> Context | None:
    """The caller's trace context from its traceparent (the HTTP header, where the SDK reads only `_meta`)."""
    return extract({"traceparent": credentials.traceparent}) if credentials.traceparent else None


def _attempt_span(request: PreparedRequest, attempt: int, parent: Context | None) -> AbstractContextManager[Span]:
    """One attempt's client span; with no OpenTelemetry SDK, the span of the trace the call is in (`core.tracing`)."""
    if not tracing.recording():
        return nullcontext(get_current_span(parent))
    return _TRACER.start_as_current_span(
        f"{request.method} {request.route or request.path}",
        context=parent,
        kind=SpanKind.CLIENT,
        attributes=_attempt_attributes(request, attempt),
        record_exception=False,
        set_status_on_exception=False,
    )


def _attempt_attributes(request: PreparedRequest, attempt: int) -> dict[str, Any]:
    """OpenTelemetry's HTTP client attributes: the route template, never the path with its ids."""
    attributes: dict[str, Any] = {"http.request.method": request.method, "twill_mcp.attempt": attempt + 1}
    if request.route:
        attributes["url.template"] = request.route
    if attempt:
        attributes["http.request.resend_count"] = attempt
    return attributes


def _traced(headers: dict[str, str], span: Span, credentials: Credentials) -> dict[str, str]:
    """The headers of one attempt: the traceparent of its span when tracing is on, else the caller's as it came."""
    if span.get_span_context().is_valid:
        sent = dict(headers)
        inject(sent, context=set_span_in_context(span))
        return sent
    if credentials.traceparent:
        return {**headers, "traceparent": credentials.traceparent}
    return headers


def _failed(span: Span, error: ToolCallError) -> ToolCallError:
    span.set_attribute("twill_mcp.retried", False)
    span.set_attribute("error.type", error.error_code)
    span.set_status(Status(StatusCode.ERROR, error.error_code))
    return error


def _proxy(url: str, trust: ssl.SSLContext) -> httpx2.Proxy:
    """An https proxy is trusted like Twill is (httpx would read SSL_CERT_FILE itself); an http one takes no context."""
    return httpx2.Proxy(url, ssl_context=trust if url.startswith("https://") else None)


class _Retry(Exception):
    def __init__(self, wait: float, why: str) -> None:
        self.wait = wait
        self.why = why


class _SendTrace:
    """Follows httpcore's trace events to learn whether any request bytes left us."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        # A proxy's CONNECT carries nothing of the request: only what goes through the tunnel counts.
        if not self.sent and event.endswith("send_request_headers.started") and info["request"].method != b"CONNECT":
            self.sent = True


def _reason(exc: Exception | None, scrub: Scrub | None) -> str:
    """A short reason: the exception type and its first line, the key scrubbed, sanitized.

    A protocol error may quote what the other end sent (a malformed header, a status line).
    """
    if exc is None:
        return "closed"
    text = str(exc).splitlines()[0] if str(exc) else ""
    reason = for_agent(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
    return scrub.text(reason) if scrub else reason
