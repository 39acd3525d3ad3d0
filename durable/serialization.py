"""Values stored by the engine are jsonpickle text. Only the engine's own rows are decoded."""

import collections.abc
import io
import json
import math
import threading
from typing import Any

import jsonpickle
from jsonpickle import tags, util
from jsonpickle.errors import ClassNotFoundError
from jsonpickle.handlers import BaseHandler, register
from jsonpickle.pickler import Pickler
from jsonpickle.unpickler import loadclass

from .exceptions import SerializationError

# Live process state: jsonpickle "stores" a lock as a new lock and a generator by draining it,
# which means something else in the next process. Refuse them where they are produced.
_LIVE = (type(threading.Lock()), type(threading.RLock()), collections.abc.Iterator, io.IOBase)


class TaggedKeys:
    """Marks a dict whose keys look like jsonpickle tags (``py/object``), stored as pairs."""


class _TaggedKeysHandler(BaseHandler):  # type: ignore[misc]
    def restore(self, data: dict[str, Any]) -> dict[Any, Any]:
        restore = self.context.restore
        return {restore(k, reset=False): restore(v, reset=False) for k, v in data["items"]}


register(TaggedKeys, _TaggedKeysHandler)


def _tag_like(key: Any) -> bool:
    return isinstance(key, str) and key.startswith(("py/", tags.JSON_KEY))


class _StrictPickler(Pickler):  # type: ignore[misc]
    """jsonpickle silently drops what it cannot encode (functions become null, dict entries
    holding a lambda or keyed ``py/...`` vanish, ``{"py/b64": ...}`` data comes back as bytes);
    a value lost that way would replay differently, so refuse it, and escape tag-like keys."""

    def __init__(self) -> None:
        super().__init__(keys=True, warn=False)
        self._path: list[str] = []

    def _where(self) -> str:
        return " > ".join(self._path)

    def _flatten_obj(self, obj: Any) -> Any:
        self._path.append(type(obj).__name__)
        if isinstance(obj, _LIVE):
            raise TypeError(f"a {type(obj).__name__} is live process state ({self._where()})")
        flat = super()._flatten_obj(obj)
        self._path.pop()
        return flat

    def _pickle_warning(self, obj: Any) -> None:
        raise TypeError(f"jsonpickle cannot encode {obj!r} ({self._where()})")

    def _flatten_function(self, obj: Any) -> Any:
        # A nested function or a bound method is written under a name that imports as something else.
        if loadclass(util.importable_name(obj)) is not obj:
            self._pickle_warning(obj)
        return super()._flatten_function(obj)

    def _flatten_dict_obj(self, obj: Any, data: Any = None, exclude: Any = ()) -> Any:
        for value in obj.values():
            if util.is_function(value) and not util.is_module_function(value):
                self._pickle_warning(value)
        if not any(_tag_like(key) for key in obj):
            return super()._flatten_dict_obj(obj, data, exclude)
        if data is not None or type(obj) is not dict:
            raise TypeError(f"a {type(obj).__name__} has a key like {tags.OBJECT!r} ({self._where()})")
        pairs = [[self._flatten(k), self._flatten(v)] for k, v in obj.items()]
        return {tags.OBJECT: util.importable_name(TaggedKeys), "items": pairs}


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is JSON as it stands: jsonpickle would write it as plain JSON and
    read it back equal, so neither it nor the round-trip check is needed. Exact types only:
    a subclass of str or dict may carry more than JSON keeps."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if depth > 32:
        return False
    if kind is list:
        return all(_plain(v, depth + 1) for v in value)
    if kind is dict:
        return all(type(k) is str and not _tag_like(k) and _plain(v, depth + 1) for k, v in value.items())
    return False


def dumps(value: Any, what: str = "value") -> str:
    """Encode and check the text decodes again, so a value that cannot round-trip
    fails here, where it was produced, not on replay days later. Plain JSON data, what
    most steps return, is written by the json module directly: it is a third of the cost."""
    if _plain(value):
        return json.dumps(value)
    try:
        text: str = jsonpickle.encode(value, context=_StrictPickler())
        jsonpickle.decode(text, keys=True, on_missing="error")
    except (Exception, ClassNotFoundError) as exc:  # ClassNotFoundError is a BaseException
        raise SerializationError(
            f"{what} of type {type(value).__name__} cannot be stored: {exc}. "
            "Pass plain data (dicts, lists, str, numbers), dataclasses or Pydantic models, "
            "or convert it to one of those first."
        ) from exc
    return text


def dumps_call(args: list[Any], kwargs: dict[str, Any], what: str) -> str:
    """A run's arguments, ``(args, kwargs)``, as ``dumps`` would write the tuple."""
    if _plain(args) and _plain(kwargs):
        return json.dumps({tags.TUPLE: [args, kwargs]})
    return dumps((args, kwargs), what)


def loads(text: str | None) -> Any:
    if text is None:
        return None
    if _untagged(text):
        return json.loads(text)  # what jsonpickle would return for it, at a fraction of the cost
    return jsonpickle.decode(text, keys=True)


_CALL_PREFIX = '{"' + tags.TUPLE + '": '  # how dumps_call's text begins


def loads_call(text: str) -> tuple[list[Any], dict[str, Any]]:
    """A run's ``(args, kwargs)``, as ``dumps_call`` wrote them."""
    if text.startswith(_CALL_PREFIX) and _untagged(text[len(_CALL_PREFIX) :]):
        args, kwargs = json.loads(text)[tags.TUPLE]
        return args, kwargs
    args, kwargs = loads(text)
    return args, kwargs


def _untagged(text: str) -> bool:
    """Whether ``text`` holds none of jsonpickle's markers (tags start ``py/``; keys that are
    not strings start ``json://``): then it is plain JSON and jsonpickle reads it as json does."""
    return "py/" not in text and tags.JSON_KEY not in text


def dumps_exception(exc: BaseException) -> str:
    """Exceptions may hold unpicklable state; fall back to a plain error that keeps the message."""
    try:
        return dumps(exc, "exception")
    except SerializationError:
        return dumps(RuntimeError(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"), "exception")
