"""What every answer means: one table, by status class and kind of operation, written out by hand.

Each cell is checked twice against the real request path: whether the transport sent
the request again, and what the agent was told (`retryable`, hint). The two must agree:
a call is `retryable` exactly when the server would have retried it itself.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator

import pytest

from tests.conftest import API_KEY, Waits, send
from tests.fake_twill import FakeTwill
from twill_mcp.core.config import Settings
from twill_mcp.core.errors import ApiError, ToolCallError
from twill_mcp.server.build import INSTRUCTIONS
from twill_mcp.upstream.http import TwillHttp
from twill_mcp.upstream.outcomes import Effect
from twill_mcp.upstream.request import PreparedRequest

pytestmark = pytest.mark.anyio

EFFECTS = {
    "read-only": Effect(read_only=True, idempotent=True, action="read the task"),
    "idempotent": Effect(read_only=False, idempotent=True, action="cancel the task"),
    "non-idempotent": Effect(read_only=False, idempotent=False, action="post the message"),
}
SAFE, UNSAFE = ("read-only", "idempotent"), ("non-idempotent",)
ALL = SAFE + UNSAFE
RETRY_SAFE = "Calling again later is safe"
CHECK_FIRST = "Check whether it did post the message"

# status -> [(kinds of operation, retried by the server and retryable for the agent, words of the hint)]
TABLE: dict[int, list[tuple[tuple[str, ...], bool, str]]] = {
    400: [(ALL, False, "Fix the arguments")],
    401: [(ALL, False, "API key was rejected")],
    403: [(ALL, False, "not allowed to do this")],
    404: [(ALL, False, "Nothing exists under that id")],
    408: [(SAFE, True, RETRY_SAFE), (UNSAFE, False, CHECK_FIRST)],
    409: [(ALL, False, "not in a state that allows this")],
    418: [(ALL, False, "Fix the arguments")],
    422: [(ALL, False, "Fix the arguments")],
    429: [(ALL, True, "rate limit for this key was hit")],
    500: [(SAFE, True, RETRY_SAFE), (UNSAFE, False, CHECK_FIRST)],
    501: [(ALL, False, "does not support this operation")],
    502: [(SAFE, True, RETRY_SAFE), (UNSAFE, False, CHECK_FIRST)],
    503: [(SAFE, True, RETRY_SAFE), (UNSAFE, False, CHECK_FIRST)],
    504: [(SAFE, True, RETRY_SAFE), (UNSAFE, False, CHECK_FIRST)],
    505: [(("read-only",), False, "unexpected status"), (("idempotent", "non-idempotent"), False, "Check whether")],
}


def cells() -> Iterator[tuple[int, str, bool, str]]:
    for status, rows in TABLE.items():
        for kinds, repeated, hint in rows:
            for kind in kinds:
                yield status, kind, repeated, hint


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeTwill]:
    fake = FakeTwill(API_KEY).start()
    yield fake
    fake.stop()


def test_the_table_covers_every_status_class_for_every_kind_of_operation() -> None:
    covered = {(status, kind) for status, kind, _, _ in cells()}
    assert covered == {(status, kind) for status in TABLE for kind in EFFECTS}


@pytest.mark.parametrize(("status", "kind", "repeated", "hint"), list(cells()))
async def test_retrying_and_what_the_agent_is_told_agree(
    upstream: FakeTwill, status: int, kind: str, repeated: bool, hint: str
) -> None:
    upstream.reset()
    body = {"error": {"code": f"status_{status}", "message": "as Twill said it"}}
    upstream.then_json(status, body)
    upstream.then_json(status, body)  # the same answer again, if it is retried
    config = Settings.load({"TWILL_API_KEY": API_KEY, "TWILL_BASE_URL": upstream.origin}, max_retries=1)
    async with TwillHttp(config, sleep=Waits(), rng=random.Random(1)) as http:
        with pytest.raises(ToolCallError) as caught:
            await send(http, PreparedRequest("GET", "/tasks/t1"), EFFECTS[kind])
    sent = len(upstream.requests)
    upstream.reset()
    error = caught.value
    assert sent == (2 if repeated else 1), f"HTTP {status} on a {kind} call was sent {sent} time(s)"
    assert error.is_retryable is repeated
    assert error.to_dict()["retryable"] is (sent > 1), "the agent must be told exactly what the server did"
    assert hint in error.hint
    assert (error.status, error.error_code, error.message) == (status, f"status_{status}", "as Twill said it")


@pytest.mark.parametrize("kind", list(EFFECTS))
async def test_a_success_is_sent_once_and_is_no_error(upstream: FakeTwill, kind: str) -> None:
    upstream.reset()
    upstream.then_json(200, {"ok": True})
    config = Settings.load({"TWILL_API_KEY": API_KEY, "TWILL_BASE_URL": upstream.origin})
    async with TwillHttp(config, sleep=Waits()) as http:
        raw = await send(http, PreparedRequest("GET", "/tasks/t1"), EFFECTS[kind])
    assert (raw.status, json.loads(raw.body), len(upstream.requests)) == (200, {"ok": True}, 1)


def test_the_server_instructions_name_every_field_an_error_object_can_carry() -> None:
    full = ApiError(
        "conflict", "Already done.", hint="Check first.", status=409, details={"why": "x"}, retry_after=3.0
    ).to_dict()
    named = re.search(r"structuredContent\.error \{([^}]*)\}", INSTRUCTIONS)
    assert named is not None
    assert [field.strip().rstrip("?") for field in named.group(1).split(",")] == list(full)
