"""Fixtures for the emulator tests: a fake clock, a seeded state, and an in-process client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette

from twill_mcp.emulator import DEMO_KEY, DemoData, EmulatorState, create_app, seed_demo

AUTH = {"Authorization": f"Bearer {DEMO_KEY}"}
BASE = "http://twill.test/api/v1"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a Thursday


class FakeClock:
    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(clock: FakeClock) -> EmulatorState:
    return EmulatorState(clock, seed=1234)


@pytest.fixture
def demo(state: EmulatorState) -> DemoData:
    return seed_demo(state)


def make_app(state: EmulatorState, **options: Any) -> Starlette:
    options = {"sse_interval": 0.01, "sse_max_seconds": 2.0, **options}
    return create_app(state, **options)


@asynccontextmanager
async def client_for(app: Starlette, headers: dict[str, str] | None = None) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(
        transport=transport, base_url=BASE, headers=AUTH if headers is None else headers
    ) as c:
        yield c


@pytest.fixture
def app(state: EmulatorState, demo: DemoData) -> Starlette:
    return make_app(state)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx2.AsyncClient]:
    async with client_for(app) as c:
        yield c
