"""Checking action arguments: plain JSON, and valid against the agent's JSON schema if it gave one."""

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import exceptions as schema_exceptions
from jsonschema import validators

from . import schema_words

# How deeply edited arguments may nest (containers in containers; the arguments object is level 1).
# The agent gets them back as a dict and may store it with the engine: as a step's result, an event,
# its return value, inside its own dataclass. The engine writes plain JSON up to 33 levels with the
# json module, and deeper values with jsonpickle, which round-trips only so far under Python's default
# recursion limit (1,000). Measured through durable.serialization.dumps then loads, in a thread
# already 100 frames deep: dicts 126 levels, lists 148, a dict inside a dataclass 124 (json alone:
# 891). So 32 keeps an edit on the plain-JSON path and leaves the agent about 90 levels around it;
# tests/inbox/test_bad_input.py holds the engine to twice this limit.
MAX_DEPTH = 32

_SURROGATE = re.compile("[\ud800-\udfff]")


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
    return schema_words.sentence(error)  # in a reviewer's words, not jsonschema's Python reprs


def storage_problems(value: Any) -> list[str]:
    """Why the engine could not store ``value`` for the agent, as sentences naming where; [] if it
    can. Iterative, so a value nested deeper than the recursion limit is reported, not a crash."""
    problems: list[str] = []
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, str):
            problems.extend(_surrogate_problem(item, where))
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            return [
                f"The arguments nest more than {MAX_DEPTH} levels deep (at {where}): the agent keeps them "
                f"with its run, which stores at most {MAX_DEPTH} levels. Flatten the structure."
            ]
        for key, child in item.items() if isinstance(item, dict) else enumerate(item):
            path = f"{where}.{_shown(str(key))}" if where else _shown(str(key))
            if isinstance(key, str):
                problems.extend(_surrogate_problem(key, f"{path} (the key)"))
            stack.append((child, depth + 1, path))
    return problems


def _surrogate_problem(text: str, where: str) -> list[str]:
    """A lone surrogate (a JSON escape such as \\ud800, half of a UTF-16 pair) is text that no
    database stores and no page can be encoded with."""
    found = _SURROGATE.search(text)
    if found is None:
        return []
    code = f"\\u{ord(found.group()):04x}"
    return [
        f"{where or 'The arguments'}: {code} is half of a UTF-16 surrogate pair, which cannot be stored. "
        "Write the character itself, or both halves of the pair."
    ]


def _shown(text: str) -> str:
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def as_plain_json(value: Any, what: str) -> Any:
    """``value`` round-tripped through JSON, or ValueError: arguments must be plain JSON data."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be plain JSON data (dicts, lists, str, numbers, bools, None): {exc}") from None
    return json.loads(text)


def finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)
