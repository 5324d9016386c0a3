"""Resource subscriptions to tasks: `notifications/resources/updated` when a subscribed task's run changes.

The SDK serves both protocol eras: `resources/subscribe` / `resources/unsubscribe` with
`notifications/resources/updated` on the 2025 wire, and `subscriptions/listen` streams
(`mcp.server.subscriptions.ListenHandler`) on the 2026-07-28 wire. Twill has no push, so
a change is found by reading the task: only while someone is subscribed, once per task
and key per round, at most `Watching.per_minute` of the key's budget, through the
same request path as the tools.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
from anyio.abc import TaskGroup
from mcp.server.context import ServerRequestContext
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated
from mcp.shared.exceptions import MCPError

from twill_mcp.core.config import TWILL_RATE_LIMIT
from twill_mcp.core.credentials import Credentials, CredentialsFor
from twill_mcp.core.errors import ToolCallError
from twill_mcp.server.resources import (
    RESOURCE_NOT_FOUND,
    TASK_ARGUMENT,
    TASKS_URI,
    Upstream,
    protocol_error,
    task_id_of,
)
from twill_mcp.tools.tasks import job_status, latest_job_id
from twill_mcp.upstream.budget import Sleep

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Watching:
    """How often subscribed tasks are read."""

    every: float = 10.0
    per_minute: int = TWILL_RATE_LIMIT // 5
    """Reads per minute per key at most: a fifth of Twill's limit, so watching never starves the key's tool calls."""


Notify = Callable[[str], Awaitable[None]]


@dataclass(eq=False)
class _Subscriber:
    owner: object
    """Who subscribed (a legacy session, or one listen stream): what unsubscribing removes."""
    credentials: Credentials
    notify: Notify


WATCHING = Watching()


class TaskWatch:
    """The subscribed task URIs, and one loop per key that reads them while the key has any.

    One loop per key, not one for all: a key whose reads are slow (Twill slow to answer it, its
    rate budget spent) must not delay what another key's subscribers are told.
    """

    def __init__(self, upstream: Upstream, watching: Watching, *, sleep: Sleep = anyio.sleep) -> None:
        self._upstream = upstream
        self._watching = watching
        self._sleep = sleep
        self._subscribers: dict[str, list[_Subscriber]] = {}
        self._seen: dict[tuple[str, str], Any] = {}
        self._changed = anyio.Event()
        self._looping: set[str] = set()

    @asynccontextmanager
    async def running(self, server: Any) -> AsyncIterator[dict[str, Any]]:
        """The server's lifespan: the watch loops run as long as the server does."""
        async with anyio.create_task_group() as group:
            group.start_soon(self._run, group)
            yield {}
            group.cancel_scope.cancel()

    async def add(self, uri: str, credentials: Credentials, notify: Notify, owner: object) -> None:
        """Watch `uri` for `owner`; its current state is read now, so the first change is not missed.

        Raises the tool error the read gave (an unknown task, a rejected key).
        """
        self._seen[(uri, credentials.key_id)] = await self._read(uri, credentials)
        self._subscribers.setdefault(uri, []).append(_Subscriber(owner, credentials, notify))
        self._changed.set()

    def remove(self, uri: str, owner: object) -> None:
        left = [s for s in self._subscribers.get(uri, []) if s.owner is not owner]
        if left:
            self._subscribers[uri] = left
        else:
            self._subscribers.pop(uri, None)
        live = {(u, s.credentials.key_id) for u, subs in self._subscribers.items() for s in subs}
        self._seen = {pair: state for pair, state in self._seen.items() if pair in live}

    async def _run(self, group: TaskGroup) -> None:
        """Starts a key's loop when the key gets its first subscription."""
        while True:
            self._changed = anyio.Event()
            for key_id in self._keys() - self._looping:
                self._looping.add(key_id)
                group.start_soon(self._run_key, key_id)
            await self._changed.wait()

    async def _run_key(self, key_id: str) -> None:
        try:
            while watched := self._watched(key_id):
                await self.check_key(key_id, watched)
                await self._sleep(self._pause(len(watched)))
        finally:
            self._looping.discard(key_id)
            self._changed.set()  # the key may have been subscribed again meanwhile

    def _keys(self) -> set[str]:
        return {s.credentials.key_id for subscribers in self._subscribers.values() for s in subscribers}

    def _watched(self, key_id: str) -> dict[str, list[_Subscriber]]:
        """The key's watched URIs, each with the key's subscribers to it."""
        watched: dict[str, list[_Subscriber]] = {}
        for uri, subscribers in self._subscribers.items():
            mine = [s for s in subscribers if s.credentials.key_id == key_id]
            if mine:
                watched[uri] = mine
        return watched

    def _pause(self, reads: int) -> float:
        """Between a key's rounds: its share of the key's budget for `reads` reads a round."""
        return max(self._watching.every, reads * 60.0 / self._watching.per_minute)

    async def check_key(self, key_id: str, watched: dict[str, list[_Subscriber]]) -> None:
        """Read each task the key watches once, and tell the key's subscribers to it if its run changed."""
        for uri, group in watched.items():
            try:
                state = await self._read(uri, group[0].credentials)
            except ToolCallError as error:
                logger.info("could not check %s for its subscribers: %s", uri, error.message)
                continue
            if self._seen.get((uri, key_id), state) != state:
                for subscriber in group:
                    await self._tell(uri, subscriber)
            self._seen[(uri, key_id)] = state

    async def _tell(self, uri: str, subscriber: _Subscriber) -> None:
        try:
            await subscriber.notify(uri)
        except Exception:
            # The subscriber's connection is gone: stop reading Twill for it.
            logger.info("dropping a subscription to %s whose client went away", uri)
            self.remove(uri, subscriber.owner)

    async def _read(self, uri: str, credentials: Credentials) -> Any:
        task_id = task_id_of(uri)
        if task_id is None:
            raise MCPError(code=RESOURCE_NOT_FOUND, message=f"Only tasks can be subscribed to: {TASKS_URI}/{{id}}.")
        body = await self._upstream.read(credentials, "get_task", {TASK_ARGUMENT: task_id})
        # What makes a change worth telling: a new run, or the run's status.
        return latest_job_id(body), job_status(body)


class Subscriptions:
    """The request handlers of both eras, over one watch."""

    def __init__(self, watch: TaskWatch, credentials: CredentialsFor) -> None:
        self._watch = watch
        self._credentials = credentials

    async def subscribe(
        self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        uri = str(params.uri)
        if not getattr(_client_of(ctx), "has_standalone_channel", True):
            # Stateless HTTP: nothing outlives the request, so an update would have nowhere to go.
            raise MCPError(
                code=types.INVALID_REQUEST,
                message="resources/subscribe needs a connection that stays open (stdio); over stateless HTTP, "
                "use subscriptions/listen (protocol 2026-07-28), or read the resource again, or call wait_for_task.",
            )
        try:
            await self._watch.add(uri, self._credentials(ctx), ctx.session.send_resource_updated, _client_of(ctx))
        except ToolCallError as error:
            raise protocol_error(error, uri) from None
        return types.EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        self._watch.remove(str(params.uri), _client_of(ctx))
        return types.EmptyResult()

    async def listen(
        self, ctx: ServerRequestContext[Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        """One listen stream, with its own bus: one user's task changes never reach another's stream."""
        bus = InMemorySubscriptionBus()
        credentials = self._credentials(ctx)
        owner = object()

        async def publish(uri: str) -> None:
            await bus.publish(ResourceUpdated(uri=uri))

        watched: list[str] = []
        for uri in params.notifications.resource_subscriptions or []:
            try:
                await self._watch.add(uri, credentials, publish, owner)
                watched.append(uri)
            except (ToolCallError, MCPError) as error:
                # The spec honours a subscription to a resource that does not exist: it just never fires.
                logger.info("listen: not watching %s: %s", uri, getattr(error, "message", error))
        try:
            return await ListenHandler(bus)(ctx, params)
        finally:
            for uri in watched:
                self._watch.remove(uri, owner)


def _client_of(ctx: ServerRequestContext[Any]) -> object:
    """What stays the same across one client's requests, so an unsubscribe finds its subscribe.

    The SDK builds a new session object per request, over one connection, which mcp 2.3
    exposes only as the session's `_connection`; a notification without a request id
    goes out on that connection's standalone channel, whichever session sends it.
    """
    return getattr(ctx.session, "_connection", ctx.session)
