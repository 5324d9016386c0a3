"""How Twill's JSON is decoded for the agent (`upstream.decode.Incoming`): bounded, the key scrubbed, sanitized.

Each rule holds on both of the decoder's paths: text with nothing in its strings to change
(checked for depth only) and text with an escape or a character to remove (rebuilt).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from twill_mcp.core.credentials import Scrub
from twill_mcp.core.logs import REDACTED
from twill_mcp.upstream.decode import MAX_DEPTH, Incoming, TooDeep

KEY = "twk_test_0123456789abcdef"
INCOMING = Incoming(Scrub(KEY))
# Appended to a body's text, each picks one path: nothing to change, or an escape that makes the decoder rebuild.
PATHS = {"plain": '"ok"', "escaped": '"\\u006fk"'}


def nested(levels: int, leaf: str) -> str:
    """`levels` containers, alternately lists and objects, around `leaf`."""
    text = leaf
    for level in range(levels):
        text = f"[{text}]" if level % 2 else f'{{"x":{text}}}'
    return text


@pytest.mark.parametrize("leaf", PATHS.values(), ids=PATHS.keys())
def test_json_nested_as_deep_as_the_bound_is_decoded(leaf: str) -> None:
    value: Any = INCOMING.json(nested(MAX_DEPTH, leaf))
    for level in reversed(range(MAX_DEPTH)):
        value = value[0] if level % 2 else value["x"]
    assert value == "ok"


@pytest.mark.parametrize("leaf", PATHS.values(), ids=PATHS.keys())
def test_json_nested_one_level_past_the_bound_is_too_deep(leaf: str) -> None:
    with pytest.raises(TooDeep):
        INCOMING.json(nested(MAX_DEPTH + 1, leaf))


def test_json_nested_past_the_decoders_own_stack_is_too_deep_not_a_recursion_error() -> None:
    with pytest.raises(TooDeep):
        INCOMING.json("[" * 100_000 + "]" * 100_000)


def test_many_shallow_containers_are_not_too_deep() -> None:
    assert len(INCOMING.json(json.dumps([[{"a": [1]}] for _ in range(500)]))) == 500


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "[1e400]", '{"a": -1e999}'])
def test_numbers_json_cannot_carry_are_not_json(text: str) -> None:
    with pytest.raises(ValueError, match=r"JSON|overflows"):
        INCOMING.json(text)


def test_a_lone_surrogate_becomes_the_replacement_character() -> None:
    assert INCOMING.json('{"a": "cut \\ud83d"}') == {"a": "cut \ufffd"}


def test_an_escaped_surrogate_pair_is_the_character_it_encodes() -> None:
    assert INCOMING.json('"\\ud83d\\ude00"') == "\U0001f600"


@pytest.mark.parametrize(
    "encoded",
    [KEY, "".join(f"\\u{ord(c):04x}" for c in KEY), KEY.replace("_", "\\u005F"), KEY.replace("t", "\\u0074")],
    ids=["raw", "all escaped", "some escaped, upper-case hex", "one letter escaped"],
)
def test_the_key_is_scrubbed_however_it_was_escaped(encoded: str) -> None:
    assert INCOMING.json(f'{{"message": "key {encoded} bad"}}') == {"message": f"key {REDACTED} bad"}


def test_the_key_is_scrubbed_from_object_keys_too() -> None:
    assert INCOMING.json(f'{{"{KEY}": 1}}') == {REDACTED: 1}


@pytest.mark.parametrize("hidden", ["\\u200b", "\\u202e", "\\u001b[31m", "\u200b", "\x7f", "\U000e0041"])
def test_hidden_characters_are_removed_from_values_and_keys(hidden: str) -> None:
    text = f'{{"a{hidden}": "b{hidden}"}}'
    assert INCOMING.json(text) == {"a": "b"}


def test_raw_text_keeps_hidden_characters_but_not_the_key() -> None:
    raw = Incoming(Scrub(KEY), raw_text=True)
    assert raw.json(f'{{"a": "\\u202e{KEY}"}}') == {"a": f"\u202e{REDACTED}"}


@pytest.mark.parametrize("encoded", ['ab\\/cd/ef\\"gh12', 'ab/cd\\/ef\\"gh12', "ab/cd/ef\\u0022gh12"])
def test_a_key_with_slashes_and_quotes_is_scrubbed_when_only_some_are_escaped(encoded: str) -> None:
    incoming = Incoming(Scrub('ab/cd/ef"gh12'))
    assert incoming.json(f'{{"m": "{encoded}"}}') == {"m": REDACTED}
