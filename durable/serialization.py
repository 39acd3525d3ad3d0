"""Values stored by the engine are jsonpickle text. Only the engine's own rows are decoded."""

from typing import Any

import jsonpickle

from .exceptions import SerializationError


def dumps(value: Any, what: str = "value") -> str:
    """Encode and check the text decodes again, so a value that cannot round-trip
    fails here, where it was produced, not on replay days later."""
    try:
        text: str = jsonpickle.encode(value, keys=True, warn=False)
        jsonpickle.decode(text, keys=True, on_missing="error")
    except Exception as exc:
        raise SerializationError(
            f"{what} of type {type(value).__name__} cannot be stored: {exc}. "
            "Pass plain data (dicts, lists, str, numbers), dataclasses or Pydantic models, "
            "or convert it to one of those first."
        ) from exc
    return text


def loads(text: str | None) -> Any:
    if text is None:
        return None
    return jsonpickle.decode(text, keys=True)


def dumps_exception(exc: BaseException) -> str:
    """Exceptions may hold unpicklable state; fall back to a plain error that keeps the message."""
    try:
        return dumps(exc, "exception")
    except SerializationError:
        return dumps(RuntimeError(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"), "exception")
