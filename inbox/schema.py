"""Checking action arguments: plain JSON, and valid against the agent's JSON schema if it gave one."""

import json
import math
from collections.abc import Mapping
from typing import Any

from jsonschema import exceptions as schema_exceptions
from jsonschema import validators


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raise ValueError naming the problem if ``schema`` is not a valid JSON schema."""
    try:
        validators.validator_for(schema).check_schema(dict(schema))
    except schema_exceptions.SchemaError as exc:
        raise ValueError(f"The arguments schema is not a valid JSON schema: {exc.message}") from None


def errors(arguments: Any, schema: Mapping[str, Any] | None) -> list[str]:
    """Every way ``arguments`` breaks ``schema``, as sentences naming the field; [] if valid."""
    if not schema:
        return []
    cls = validators.validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)  # "format": "email" etc. are checked too
    found = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    return [_sentence(e) for e in found]


def _sentence(error: schema_exceptions.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def as_plain_json(value: Any, what: str) -> Any:
    """``value`` round-tripped through JSON, or ValueError: arguments must be plain JSON data."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be plain JSON data (dicts, lists, str, numbers, bools, None): {exc}") from None
    return json.loads(text)


def finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)
