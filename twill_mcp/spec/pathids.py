r"""What a value standing for one URL path segment (a task, job or schedule id) may be.

One rule, published as the schema `pattern` of every path parameter, explained by the
argument checker, and relied on (but not trusted) by the request encoder:

- not empty, and not empty once blank characters are trimmed: Twill would read `/tasks/%20`
  as a request for a task named by spaces, never what an agent meant;
- not only dots: servers following the WHATWG URL standard (Node) read `%2E%2E` as `..` and
  climb to the parent path, however it is encoded;
- no control characters (C0, DEL, C1): a newline or tab in an id is a pasting accident.

The pattern needs no lookaround (strict-mode schema engines refuse it), is linear to
match (the dot-or-blank run before the first visible character cannot overlap it), and
reads the same in ECMAScript and Python (whose `\s` differ only on U+FEFF): a blank is
whitespace that is not a control character, written `[^\S<controls>]`.
"""

from __future__ import annotations

import re

_CONTROL = r"\x00-\x1f\x7f-\x9f"
PATTERN = rf"^(?:\.|[^\S{_CONTROL}])*[^\s.{_CONTROL}][^{_CONTROL}]*$"
_CONTROL_CHARACTER = re.compile(f"[{_CONTROL}]")


def only_dots(text: str) -> bool:
    """`.`, `..`, `...`: a relative step, not a name, for URL normalisers."""
    return bool(text) and set(text) == {"."}


def problem(value: str) -> str | None:
    """Why `value` is not a valid path id, in words for the agent; None if it is one."""
    if re.fullmatch(PATTERN, value):
        return None
    if not value:
        return "must not be empty"
    if _CONTROL_CHARACTER.search(value):
        return "must not contain control characters (newline, tab, …)"
    if only_dots(value):
        return "must not be '.' or '..': those are path steps, not ids"
    if value.isspace():
        return "must not be blank"
    return "must not be only dots and blanks"
