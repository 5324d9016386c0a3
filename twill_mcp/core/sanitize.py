"""Text from outside made safe to show: to an agent (`for_agent`), and in a log line (`for_log`).

What Twill sends back was written by an AI agent that read arbitrary repositories, so
it is treated as hostile. Characters a human reviewing a tool result cannot see are
how instructions get hidden from them (invisible prompt injection); terminal escapes
can rewrite what an operator's terminal shows. `for_agent` removes exactly those and
leaves everything else as it came: code, every script, emoji.

Removed:
- zero-width and invisible format characters: U+200B, U+2060-U+2064, U+206A-U+206F,
  U+FEFF, U+180E, U+FFF9-U+FFFB;
- bidi controls: U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C;
- Unicode tag characters (U+E0000-U+E007F), except in the three RGI subdivision flags
  (England, Scotland, Wales), which are made of them;
- runs of two or more variation selectors (one selects a glyph; a run carries data);
- U+200C and U+200D (ZWNJ, ZWJ), except one alone between two letters, marks or
  symbols: that is how Persian and Indic scripts join letters and how emoji
  sequences (a family, a skin-toned profession) are built;
- terminal escape sequences (CSI, OSC and the other ESC forms, and their C1
  equivalents) whole, and every other C0 or C1 control character but tab, LF and CR.
"""

from __future__ import annotations

import re
import unicodedata

_FLAGS = "|".join(
    re.escape("\U0001f3f4" + "".join(chr(0xE0000 + ord(ch)) for ch in name) + "\U000e007f")
    for name in ("gbeng", "gbsct", "gbwls")
)
# Whole terminal escape sequences (ECMA-48): CSI, the string controls (OSC, DCS, SOS, PM, APC) up to their
# terminator, and the two-character forms; then a lone ESC.
_ESCAPES = (
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_CONTROLS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
_INVISIBLE = r"[\u200b\u2060-\u2064\u206a-\u206f\ufeff\u180e\ufff9-\ufffb\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]"
_TAGS = r"[\U000e0000-\U000e007f]"
_SELECTOR_RUNS = r"[\ufe00-\ufe0f\U000e0100-\U000e01ef]{2,}"
_JOINERS = r"[\u200c\u200d]+"
_UNSAFE = re.compile(
    f"(?P<flag>{_FLAGS})|(?P<joiners>{_JOINERS})|{_ESCAPES}|{_CONTROLS}|{_INVISIBLE}|{_TAGS}|{_SELECTOR_RUNS}"
)
# Every character any of the above starts with: one character class, so that text with none of them (almost all
# text) is passed over at the speed of a single scan.
_SUSPECT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufe00-\ufe0f\ufeff\ufff9-\ufffb\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)
# What a joiner may stand between: letters, marks (a virama, an emoji's VS16) and symbols (emoji, skin tones).
_JOINABLE = ("L", "M", "So", "Sk")


def for_agent(text: str) -> str:
    """`text` without the characters listed in the module docstring; unchanged (the same object) if it has none."""
    if not suspect(text):
        return text
    return _UNSAFE.sub(lambda match: _kept(match, text), text)


def suspect(text: str) -> bool:
    """Whether `for_agent` might change `text`: False means it certainly would not."""
    return _SUSPECT.search(text) is not None


def _kept(match: re.Match[str], text: str) -> str:
    if match.group("flag"):
        return match.group()
    if match.group("joiners"):
        start, end = match.span()
        alone = end - start == 1
        if alone and start > 0 and end < len(text) and _joinable(text[start - 1]) and _joinable(text[end]):
            return match.group()
    return ""


def _joinable(ch: str) -> bool:
    return unicodedata.category(ch).startswith(_JOINABLE)


# For a log line: every control character, and the bidi controls that reorder what a terminal shows.
_LOG_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u2028\u2029]")
_LOG_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def for_log(text: str) -> str:
    """`text` as one inert line: control, line-break and bidi characters written as escapes (`\\n`, `\\x1b`)."""
    if _LOG_UNSAFE.search(text) is None:
        return text
    return _LOG_UNSAFE.sub(lambda match: _LOG_ESCAPES.get(match.group()) or _escape(match.group()), text)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
