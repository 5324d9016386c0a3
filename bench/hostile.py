"""The hostile-upstream fuzz run of bench/fuzz.py: valid calls, and Twill's answers made by an adversary.

Each call is one tool call whose one request is answered by a generated answer (`FakeTwill.then`):
a JSON body nested at random depth, the key echoed in a random JSON encoding, strings full of
control, format, bidi and tag characters (and real text in other scripts), oversized bodies,
malformed JSON and UTF-8, event streams with odd line ends, endless lines and garbage, and
429/503 answers with odd `Retry-After` values. Every call must end in a tool result (an `isError`
one is fine) that holds neither the key nor any character the sanitizer removes.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import mcp_types as types
from anyio.from_thread import start_blocking_portal
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.conftest import API_KEY
from tests.fake_twill import FakeTwill, Scripted
from twill_mcp.core.config import Settings
from twill_mcp.inprocess import connected
from twill_mcp.spec.compiler import compile_spec
from twill_mcp.spec.openapi import load_bundled_spec
from twill_mcp.upstream.budget import RateBudgets
from twill_mcp.upstream.http import TwillHttp

CALLS: dict[str, dict[str, Any]] = {
    "get_task": {"taskIdOrSlug": "t1"},
    "list_tasks": {},
    "cancel_task": {"taskIdOrSlug": "t1"},
    "stream_job_logs": {"jobId": "j1", "maxSeconds": 2},
    "export_claude_teleport_session": {"taskIdOrSlug": "t1"},
}
# Every character the sanitizer must keep from the agent (core/sanitize.py), and a few neighbours it must keep.
HIDDEN = (
    [chr(c) for c in range(0x00, 0x20) if chr(c) not in "\t\n\r"]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + list("\u200b\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u202a\u202b\u202c\u202d\u202e")
    + list("\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
    + [chr(0xE0000 + c) for c in range(0x80)]
)
HIDDEN_SET = frozenset(HIDDEN)
SAFE = list("abc xyz 0123 {}[]\"\\/<>&+' \t\n修复أصلחתקןत्रुटि👨\u200d👩\u200d👧🏳️\u200d🌈\u2028\u2029é")  # noqa: RUF001 (real text in other scripts)
ODD_RETRY_AFTER = [
    "\u00b2", "\u0661\u0662", "\uff13", "-1", "+5", "1.5", "1e3", "NaN", "inf", "9" * 400, "0x10", " 7 ",
    "Fri, 31 Dec 9999 23:59:59 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", "Mon, 32 Foo 2020 99:99:99 GMT",
    "\u0661 Jan 2030 00:00:00 GMT", "", "\u200b5", "5\x00",
]  # fmt: skip
JSON_HEADERS = {"Content-Type": "application/json"}
STREAM_HEADERS = {"Content-Type": "text/event-stream"}
RSS_BOUND_MB = 256
NO_LINE_BREAKS = str.maketrans("", "", "\r\n")


class Hostile:
    """Generates one hostile answer at a time."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def text(self, size: int = 24) -> str:
        pool = HIDDEN if self.rng.random() < 0.5 else SAFE
        chars = [self.rng.choice(pool if self.rng.random() < 0.6 else SAFE + HIDDEN) for _ in range(size)]
        if self.rng.random() < 0.3:
            chars.insert(self.rng.randrange(len(chars) + 1), self.rng.choice(["\x1b[31m", "\x1b]0;x\x07", "\x9b2J"]))
        if self.rng.random() < 0.2:
            chars.insert(self.rng.randrange(len(chars) + 1), API_KEY)
        return "".join(chars)

    def key_encoded(self) -> str:
        """The key as a JSON string's inside, in one of the encodings a JSON encoder may use."""
        form = self.rng.choice(["raw", "all", "some", "upper"])
        if form == "raw":
            return API_KEY
        chars = []
        for ch in API_KEY:
            escape = form in ("all", "upper") or self.rng.random() < 0.4
            code = f"\\u{ord(ch):04x}"
            chars.append((code.upper().replace("\\U", "\\u") if form == "upper" else code) if escape else ch)
        return "".join(chars)

    def value(self, depth: int) -> Any:
        kind = self.rng.random()
        if depth <= 0 or kind < 0.3:
            return self.rng.choice([self.text(), self.rng.randint(-(2**63), 2**63), 1.5, None, True, self.text(3)])
        if kind < 0.6:
            return [self.value(depth - 1) for _ in range(self.rng.randint(0, 3))]
        return {self.text(6): self.value(depth - 1) for _ in range(self.rng.randint(0, 3))}

    def nested(self) -> bytes:
        depth = self.rng.choice([1, 10, 60, 63, 64, 65, 100, 254, 400, 1000, 50_000])
        leaf = json.dumps(self.text())
        if self.rng.random() < 0.5:
            return (b"[" * depth) + leaf.encode() + (b"]" * depth)
        return (b'{"task":' * depth) + leaf.encode() + (b"}" * depth)

    def json_body(self) -> bytes:
        choice = self.rng.random()
        if choice < 0.25:
            return self.nested()
        if choice < 0.45:
            body = '{"task": {"id": "t1", "title": "' + self.key_encoded() + '"}, "error": {"code": "x", "message": "'
            return (body + self.key_encoded() + '"}}').encode()
        if choice < 0.8:
            return json.dumps(self.value(self.rng.randint(0, 8)), ensure_ascii=self.rng.random() < 0.5).encode()
        return self.rng.choice(
            [
                b"",
                b"{",
                b"\xff\xfe{}",
                b"\xef\xbb\xbf{}",
                b'{"a": NaN}',
                b'{"a": 1e999}',
                b'{"a": "\\ud83d"}',
                b'{"a": ' + b"9" * 5000 + b"}",
                b'{"tasks": "' + b"x" * 1_200_000 + b'"}',
                b"<html>" + self.text(100).encode() + b"</html>",
            ]
        )

    def error_envelope(self) -> bytes:
        details = self.value(self.rng.randint(0, 6)) if self.rng.random() < 0.7 else self.nested()
        if isinstance(details, bytes):
            return b'{"error": {"code": "x", "message": "m", "details": ' + details + b"}}"
        message = self.text() if self.rng.random() < 0.7 else self.key_encoded()
        envelope = {"error": {"code": self.text(8), "message": message, "details": details}}
        return json.dumps(envelope, ensure_ascii=self.rng.random() < 0.5).encode()

    def stream(self) -> bytes:
        ending = self.rng.choice([b"\n", b"\r", b"\r\n"])
        parts: list[bytes] = []
        for _ in range(self.rng.randint(0, 12)):
            kind = self.rng.random()
            if kind < 0.4:
                event: Any = {"type": self.rng.choice(["log", "status", "complete", self.text(5)]), "x": self.text()}
                data = json.dumps(event, ensure_ascii=False).encode()
            elif kind < 0.6:
                data = ('{"type":"log","line":"' + self.key_encoded() + '"}').encode()
            elif kind < 0.7:
                data = self.nested()
            elif kind < 0.8:
                data = self.text(40).encode("utf-8", "surrogatepass")
            else:
                data = self.rng.choice([b"\xff\xfe", b"x" * 300_000, b'{"type":"complete","n":"\xe2\x80\xa8"}'])
            parts.append(b"data: " + data + ending + ending)
        if self.rng.random() < 0.05:
            parts.append(b"data: " + b"y" * 3_000_000)  # one line that never ends, past the cap
        return b"".join(parts)

    def answer(self, tool: str) -> Scripted:
        roll = self.rng.random()
        headers: dict[str, str] = {}
        if roll < 0.1:
            status = self.rng.choice([429, 503, 500])
            headers = {"Retry-After": self.rng.choice(ODD_RETRY_AFTER), **JSON_HEADERS}
            return Scripted(status, self.error_envelope(), _latin1(headers))
        if roll < 0.35:
            return Scripted(self.rng.choice([400, 401, 404, 409, 422, 500, 502]), self.error_envelope(), JSON_HEADERS)
        if roll < 0.4:
            location = {"Location": self.text(10)}
            return Scripted(self.rng.choice([301, 302, 307]), b"", _latin1(location))
        if tool == "stream_job_logs":
            return Scripted(200, self.stream(), STREAM_HEADERS)
        if tool == "export_claude_teleport_session":
            odd = {"x-twill-session-id": self.text(8), "x-twill-file-count": self.rng.choice(ODD_RETRY_AFTER)}
            return Scripted(200, b"\x1f\x8b" + self.text(20).encode("utf-8", "surrogatepass"), _latin1(odd))
        return Scripted(200, self.json_body(), JSON_HEADERS)


def _latin1(headers: dict[str, str]) -> dict[str, str]:
    """What http.server can send as a header value (it encodes latin-1): the rest of each value is dropped."""
    return {k: v.encode("latin-1", "ignore").decode("latin-1").translate(NO_LINE_BREAKS) for k, v in headers.items()}


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_hostile(answers: int, seed: int) -> int:
    fake = FakeTwill(API_KEY).start()
    settings = Settings.load({"TWILL_API_KEY": API_KEY, "TWILL_BASE_URL": fake.origin}, max_retries=0, rate_limit=0)
    tools = [tool for tool in compile_spec(load_bundled_spec()) if tool.name in CALLS]
    hostile = Hostile(random.Random(seed))
    counts: Counter[str] = Counter()
    by_tool: Counter[str] = Counter()
    started = time.monotonic()
    try:
        with start_blocking_portal() as portal:
            http = TwillHttp(settings)
            with portal.wrap_async_context_manager(connected(settings, tools, http=http)) as client:
                for name, arguments in CALLS.items():  # warm up: imports and first connections out of the RSS baseline
                    fake.then(Scripted(200, b"{}", JSON_HEADERS))
                    portal.call(client.call_tool, name, arguments)
                rss_start = rss_mb()
                rss_peak = rss_start
                names = sorted(CALLS)
                for n in range(answers):
                    name = hostile.rng.choice(names)
                    answer = hostile.answer(name)
                    fake.reset()
                    fake.then(answer)
                    _one(portal.call, client, name, counts, by_tool)
                    if len(fake.requests) != 1:
                        counts["answers_not_asked_for"] += 1
                    if answer.status == 429:
                        # Twill's 429 pauses every call of the key, which is right and would stall the run: start over.
                        http.budgets = RateBudgets(0)
                    if n % 250 == 0:
                        rss_peak = max(rss_peak, rss_mb())
                rss_peak = max(rss_peak, rss_mb())
            portal.call(http.aclose)
    finally:
        fake.stop()
    seconds = time.monotonic() - started
    report = {
        **{k: counts[k] for k in ("answers", "results", "error_results", "crashes", "jsonrpc_errors")},
        **{k: counts[k] for k in ("internal_errors", "key_leaks", "hidden_characters", "answers_not_asked_for")},
        "rss_start_mb": round(rss_start, 1),
        "rss_peak_mb": round(rss_peak, 1),
        "rss_growth_mb": round(rss_peak - rss_start, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "seconds": round(seconds, 1),
        "per_second": round(counts["answers"] / seconds),
        "by_tool": dict(by_tool),
    }
    print(json.dumps(report, indent=2))
    bad = ("crashes", "jsonrpc_errors", "internal_errors", "key_leaks", "hidden_characters", "answers_not_asked_for")
    return 1 if any(report[k] for k in bad) or report["rss_growth_mb"] > RSS_BOUND_MB else 0


def _one(call: Callable[..., Any], client: Client, name: str, counts: Counter[str], by_tool: Counter[str]) -> None:
    counts["answers"] += 1
    by_tool[name] += 1
    try:
        result: types.CallToolResult = call(client.call_tool, name, CALLS[name])
    except MCPError:
        counts["jsonrpc_errors"] += 1
        return
    except Exception as exc:
        counts["crashes"] += 1
        print(f"crash in {name}: {type(exc).__name__}: {exc}"[:300], file=sys.stderr)
        return
    counts["results"] += 1
    dumped = json.dumps(result.model_dump(mode="json", by_alias=True), ensure_ascii=False)
    if result.is_error:
        counts["error_results"] += 1
        if (
            isinstance(result.structured_content, dict)
            and result.structured_content["error"]["code"] == "internal_error"
        ):
            counts["internal_errors"] += 1
    if API_KEY in dumped or API_KEY in result.model_dump_json():
        counts["key_leaks"] += 1
    # The archive's own bytes are base64 in a blob: only text is checked for hidden characters.
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    texts += list(strings(result.structured_content))
    if any(ch in HIDDEN_SET for text in texts for ch in text):
        counts["hidden_characters"] += 1


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, dict keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
