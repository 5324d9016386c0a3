"""A JSON Schema check that costs next to nothing when the instance is valid, which is nearly always.

jsonschema-rs answers "valid?" in well under a microsecond where jsonschema walks the schema in
Python for tens; only when it says no does jsonschema run, and its verdict and its errors (the
messages, paths and keywords the tools' error results are written from) are the ones that count.
So a difference between the two can only cost time, never change an answer: jsonschema-rs is
asked only to spare jsonschema the valid case, and it is set up to be no more lenient (formats are
not checked by either; its patterns are ECMAScript's, which `arguments._pattern` gives jsonschema).
A schema it cannot compile, or an instance it cannot take, goes to jsonschema alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator


class SchemaCheck:
    """One schema, compiled by jsonschema-rs (the fast "valid?") and by jsonschema (the verdict and the why).

    `validator_class` is jsonschema's Draft 2020-12 unless given (arguments give theirs, with ECMAScript patterns).
    Made at a tool's first use, not at start-up: jsonschema takes ~40 ms to import, and a host waits for start-up.
    """

    def __init__(self, schema: dict[str, Any], validator_class: type[Validator] | None = None) -> None:
        if validator_class is None:
            from jsonschema import Draft202012Validator

            validator_class = Draft202012Validator
        self._validator = validator_class(schema)
        self._fast: Any
        try:
            import jsonschema_rs

            self._fast = jsonschema_rs.Draft202012Validator(schema, validate_formats=False)
        except Exception:  # a schema jsonschema-rs cannot compile is still checked, by jsonschema
            self._fast = None

    def errors(self, instance: Any) -> Iterator[ValidationError]:
        """What is wrong with `instance` (nothing when it is valid), as jsonschema says it."""
        if self._fast is not None:
            try:
                if self._fast.is_valid(instance):
                    return iter(())
            except Exception:  # e.g. a value it cannot convert: jsonschema decides alone
                pass
        return self._validator.iter_errors(instance)
