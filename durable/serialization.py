"""Values stored by the engine are jsonpickle text. Only the engine's own rows are decoded."""

from typing import Any

import jsonpickle
from jsonpickle.errors import ClassNotFoundError
from jsonpickle.pickler import Pickler

from .exceptions import SerializationError


class _StrictPickler(Pickler):  # type: ignore[misc]
    """jsonpickle silently replaces what it cannot encode (functions, files, sockets) with
    null; a step result lost that way would replay as None, so refuse it instead."""

    def _pickle_warning(self, obj: Any) -> None:
        raise TypeError(f"jsonpickle cannot encode {obj!r}")


def dumps(value: Any, what: str = "value") -> str:
    """Encode and check the text decodes again, so a value that cannot round-trip
    fails here, where it was produced, not on replay days later."""
    try:
        text: str = jsonpickle.encode(value, context=_StrictPickler(keys=True))
        jsonpickle.decode(text, keys=True, on_missing="error")
    except (Exception, ClassNotFoundError) as exc:  # ClassNotFoundError is a BaseException
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
