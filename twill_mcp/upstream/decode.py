"""Text and JSON from Twill made into values fit to pass on: bounded, the key scrubbed, the text sanitized.

What Twill sends back is written by an agent that read arbitrary repositories, so it is
read as hostile. Every reader decodes through `Incoming`, one per call: JSON nested
deeper than `MAX_DEPTH` is refused (Python's decoder would overflow its stack on 50,000
levels, and pydantic refuses to serialize ~250 when the result is sent); non-finite
numbers are refused (they have no JSON form to send on); a lone surrogate becomes
U+FFFD; and every string, dict keys included, has the caller's key scrubbed *after*
decoding, whatever escapes carried it (`\\u0074\\u0077…`, `\\/`), and is passed through
`core.sanitize.for_agent` unless the operator asked for raw text.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from twill_mcp.core.credentials import Scrub
from twill_mcp.core.sanitize import for_agent, suspect

# Far above any real Twill body (a task with its jobs is ~6 deep), far below what breaks a decoder or serializer,
# and leaves room for the few levels a composed tool wraps around a body.
MAX_DEPTH = 64
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class TooDeep(ValueError):
    """JSON nested deeper than `MAX_DEPTH`."""


class Incoming:
    """How one call's answers are decoded: for this key, sanitized unless `raw_text`."""

    __slots__ = ("_raw", "_scrub")

    def __init__(self, scrub: Scrub, *, raw_text: bool = False) -> None:
        self._scrub = scrub
        self._raw = raw_text

    def text(self, text: str) -> str:
        """A string from Twill (decoded JSON, an event's data, a header) as it may be passed on."""
        text = self._scrub.text(text)
        return text if self._raw else for_agent(text)

    def json(self, text: str) -> Any:
        """The JSON value `text` holds; `ValueError` if it is not JSON, `TooDeep` if nested past the bound."""
        try:
            value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
        except RecursionError:
            raise TooDeep(f"nested deeper than {MAX_DEPTH} levels") from None
        hidden = "\\u" in text or self._scrub.may_be_escaped_in(text) or self._scrub.found_in(text)
        if not hidden and (self._raw or not _suspect_json(text)):
            # Nothing in any string to change (no escape that could hide a character or spell the key): the
            # common case, which only needs its depth checked, and fewer brackets than levels cannot nest too deep.
            if text.count("[") + text.count("{") > MAX_DEPTH:
                _check_depth(value)
            return value
        # Text decoded from UTF-8 holds no surrogate: only a `\udXXX` escape can make one.
        return self._value(value, 0, _SURROGATE_ESCAPE.search(text) is not None)

    def _value(self, value: Any, depth: int, surrogates: bool) -> Any:
        if isinstance(value, str):
            return self._string(value, surrogates)
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(value, list):
                return [self._value(item, depth + 1, surrogates) for item in value]
            return {self._string(k, surrogates): self._value(v, depth + 1, surrogates) for k, v in value.items()}
        return value

    def _string(self, text: str, surrogates: bool) -> str:
        if surrogates:
            # JavaScript's JSON.stringify writes a string cut mid-emoji as a lone `\udXXX` escape; Python accepts it,
            # but it cannot be encoded as UTF-8 when the result is written, which would take the session down.
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return self.text(text)


def _suspect_json(text: str) -> bool:
    """Whether JSON text without escapes may hold what the sanitizer removes.

    Valid JSON holds no raw C0 control character (only as an escape), so ASCII text can hold
    only DEL; anything else is left to the sanitizer's own check.
    """
    if text.isascii():
        return "\x7f" in text
    return suspect(text)


def _check_depth(value: Any) -> None:
    """Raise `TooDeep` if containers nest past `MAX_DEPTH`; strings and numbers are not looked at."""
    if type(value) is not dict and type(value) is not list:
        return
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        for child in item.values() if type(item) is dict else item:
            if type(child) is dict or type(child) is list:
                if depth >= MAX_DEPTH:
                    raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
                stack.append((child, depth + 1))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text[:20]} overflows a double")
    return number
