"""A JSON-schema error in a reviewer's words: "currency must be one of EUR, USD, GBP", not
jsonschema's Python reprs (``'JPY' is not one of ['EUR', 'USD', 'GBP']``)."""

import json
from collections.abc import Callable, Iterable
from typing import Any

from jsonschema.exceptions import ValidationError

TYPES = {
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a group of named values",
    "null": "empty",
}
FORMATS = {
    "email": "an email address, like name@example.com",
    "date": "a date, like 2026-12-31",
    "date-time": "a date and time, like 2026-12-31T17:00:00Z",
    "time": "a time, like 17:00:00",
    "uri": "a full web address, like https://example.com/page",
    "ipv4": "an IPv4 address, like 192.0.2.1",
    "uuid": "a UUID",
}


def where(error: ValidationError) -> str:
    """The argument an error is about, as the reviewer knows it: ``amount``, ``items[2].price``."""
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def listed(values: Iterable[Any]) -> str:
    return ", ".join(shown(v) for v in values)


def _type(expected: Any) -> str:
    kinds = expected if isinstance(expected, list) else [expected]
    return " or ".join(TYPES.get(str(k), str(k)) for k in kinds)


def _missing(error: ValidationError) -> str:
    instance = error.instance if isinstance(error.instance, dict) else {}
    required = error.validator_value if isinstance(error.validator_value, list) else []
    missing = [_inside(error, k) for k in required if k not in instance] or ["a value"]
    if len(missing) == 1:
        return f"{missing[0]} is required: give it a value."
    return f"{_and(missing)} are required: give them a value."


def _extra(error: ValidationError) -> str:
    known = set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
    instance = error.instance if isinstance(error.instance, dict) else {}
    extra = [_inside(error, k) for k in instance if k not in known] or ["an argument"]
    if len(extra) == 1:
        return f"{extra[0]} is not an argument this action takes: remove it."
    return f"{_and(extra)} are not arguments this action takes: remove them."


def _inside(error: ValidationError, key: str) -> str:
    parent = where(error)
    return f"{parent}.{key}" if parent else key


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _length(error: ValidationError, least: bool) -> str:
    n = error.validator_value
    return f"must be at {'least' if least else 'most'} {n} character{'s' if n != 1 else ''} long"


def _items(error: ValidationError, least: bool) -> str:
    n = error.validator_value
    return f"must have at {'least' if least else 'most'} {n} item{'s' if n != 1 else ''}"


# What the value must be, by the keyword it broke; each starts where "<argument> " leaves off.
RULES: dict[str, Callable[[ValidationError], str]] = {
    "enum": lambda e: f"must be one of {listed(e.validator_value if isinstance(e.validator_value, list) else [])}",
    "const": lambda e: f"must be {shown(e.validator_value)}",
    "type": lambda e: f"must be {_type(e.validator_value)}",
    "maximum": lambda e: f"must be at most {shown(e.validator_value)}",
    "minimum": lambda e: f"must be at least {shown(e.validator_value)}",
    "exclusiveMaximum": lambda e: f"must be less than {shown(e.validator_value)}",
    "exclusiveMinimum": lambda e: f"must be more than {shown(e.validator_value)}",
    "multipleOf": lambda e: f"must be a multiple of {shown(e.validator_value)}",
    "minLength": lambda e: _length(e, least=True),
    "maxLength": lambda e: _length(e, least=False),
    "minItems": lambda e: _items(e, least=True),
    "maxItems": lambda e: _items(e, least=False),
    "uniqueItems": lambda e: "must not list the same item twice",
    "pattern": lambda e: f"must match the pattern {e.validator_value}",
    "format": lambda e: f"must be {FORMATS.get(str(e.validator_value), 'a valid ' + str(e.validator_value))}",
    "anyOf": lambda e: "does not match any of the forms this action accepts",
    "oneOf": lambda e: "must match exactly one of the forms this action accepts",
}


# Sentences about an object's keys, rather than about one value.
KEYS: dict[str, Callable[[ValidationError], str]] = {"required": _missing, "additionalProperties": _extra}


def sentence(error: ValidationError) -> str:
    """``error`` as one sentence that names the argument and says what it must be."""
    if str(error.validator) in KEYS:
        return KEYS[str(error.validator)](error)
    subject = where(error) or "The arguments"
    rule = RULES.get(str(error.validator))
    draft4 = error.validator in ("exclusiveMaximum", "exclusiveMinimum") and isinstance(error.validator_value, bool)
    if rule is None or draft4:
        # A keyword without words here (or draft 4's boolean exclusiveMaximum): jsonschema's own.
        return f"{subject}: {error.message}"
    return f"{subject} {rule(error)}."
