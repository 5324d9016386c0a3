"""Slow and half-open HTTP clients: a connection that owes its request is closed, and connections are bounded.

Real sockets against the service under uvicorn; the bounds are shortened so that each test
takes about a second, and what is measured is whether the server closed the connection.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.fake_twill import FakeTwill, Scripted
from tests.http_thread import LEGACY, envelope, era_headers, serving, settings_for, stopped_cleanly
from twill_mcp.transports import connections

WAIT = 0.5


@pytest.fixture(autouse=True, scope="module")
def _servers_stop() -> Iterator[None]:
    yield
    stopped_cleanly()


@pytest.fixture
def short_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "HEADER_TIMEOUT_SECONDS", WAIT)
    monkeypatch.setattr(connections, "BODY_IDLE_SECONDS", WAIT)


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def closed_within(sock: socket.socket, seconds: float, *, dribble: bytes = b"") -> bool:
    """Whether the server closes `sock` within `seconds`, while we send `dribble` a byte at a time."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.1)
    sent = 0
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            pass
        except ConnectionError:
            return True
        if sent < len(dribble):
            try:
                sock.send(dribble[sent : sent + 1])
            except ConnectionError:
                return True
            sent += 1
    return False


def test_a_connection_that_never_sends_its_request_is_closed(fake_twill: FakeTwill, short_bounds: None) -> None:
    with serving(settings_for(fake_twill)) as url, connect(url) as sock:
        assert closed_within(sock, WAIT * 4)


def test_headers_sent_a_byte_at_a_time_are_cut_off_at_the_header_deadline(
    fake_twill: FakeTwill, short_bounds: None
) -> None:
    with serving(settings_for(fake_twill)) as url, connect(url) as sock:
        endless = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 1000
        assert closed_within(sock, WAIT * 4, dribble=endless)


def test_a_body_that_stops_half_way_is_closed(fake_twill: FakeTwill, short_bounds: None) -> None:
    with serving(settings_for(fake_twill)) as url, connect(url) as sock:
        sock.sendall(
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{"jsonrpc"'
        )
        assert closed_within(sock, WAIT * 4)


def test_a_keep_alive_connection_is_waited_for_again_after_its_answer(
    fake_twill: FakeTwill, short_bounds: None
) -> None:
    with serving(settings_for(fake_twill)) as url, httpx2.Client() as http:
        first = http.post(url, json=envelope(LEGACY), headers=era_headers(LEGACY))
        time.sleep(WAIT / 2)
        second = http.post(url, json=envelope(LEGACY), headers=era_headers(LEGACY))
    assert (first.status_code, second.status_code) == (200, 200)


def test_a_client_waiting_for_its_answer_is_not_cut_off(fake_twill: FakeTwill, short_bounds: None) -> None:
    slow = Scripted(200, b'{"success": true, "task": {"id": "t1"}}', {"Content-Type": "application/json"}, WAIT * 3)
    fake_twill.then(slow)
    body = envelope(LEGACY, "tools/call", {"name": "cancel_task", "arguments": {"taskIdOrSlug": "t1"}})
    with serving(settings_for(fake_twill)) as url, httpx2.Client(timeout=10) as http:
        answer = http.post(url, json=body, headers=era_headers(LEGACY, "tools/call", "cancel_task"))
    assert answer.status_code == 200
    assert '"isError":false' in answer.text.replace(" ", "")


def test_connections_past_the_bound_are_refused_with_503(
    fake_twill: FakeTwill, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connections, "MAX_CONNECTIONS", 3)
    with serving(settings_for(fake_twill)) as url:
        held = [connect(url) for _ in range(3)]
        try:
            with httpx2.Client() as http:
                answer = http.post(url, json=envelope(LEGACY), headers=era_headers(LEGACY))
        finally:
            for sock in held:
                sock.close()
        with httpx2.Client() as http:
            after = http.post(url, json=envelope(LEGACY), headers=era_headers(LEGACY))
    assert answer.status_code == 503
    assert after.status_code == 200
