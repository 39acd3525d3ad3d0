"""Hypothesis strategies for the values callers hand the engine, and a type-exact comparison."""

import datetime as dt
import io
import socket
import threading
import uuid

from hypothesis import strategies as st

from .workflows import Note

# Keys jsonpickle gives meaning to. Data from an LLM or a reviewer may contain any of them.
TAG_LIKE_KEYS = [
    "py/object",
    "py/type",
    "py/function",
    "py/reduce",
    "py/state",
    "py/id",
    "py/ref",
    "py/tuple",
    "py/set",
    "py/seq",
    "py/b64",
    "py/b85",
    "py/bytes",
    "py/repr",
    "py/mod",
    "py/iterator",
    "py/newargs",
    "py/newobj",
    "py/initargs",
    "py/property",
    "json://1",
    "json://{}",
    "default_factory",
    "__dict__",
    "null",
]

text_keys = st.one_of(st.text(max_size=10), st.sampled_from(TAG_LIKE_KEYS))
hashable_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=12),
)
any_keys = st.one_of(text_keys, st.integers(), st.tuples(st.integers(), st.text(max_size=4)))
scalars = st.one_of(
    hashable_scalars,
    st.datetimes(timezones=st.sampled_from([None, dt.UTC])),
    st.dates(),
    st.timedeltas(),
    st.decimals(allow_nan=False),
    st.uuids(),
    st.sampled_from(TAG_LIKE_KEYS),
)


def containers(children):
    return st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(text_keys, children, max_size=4),
        st.dictionaries(any_keys, children, max_size=3),
        st.frozensets(hashable_scalars, max_size=3),
        st.sets(hashable_scalars, max_size=3),
        st.builds(Note, title=st.text(max_size=8), body=children),
    )


# Values as a tool call, an LLM response or a reviewer's edit would produce them.
values = st.recursive(scalars, containers, max_leaves=12)
# Plain JSON: what the inbox sends as edited arguments.
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()),
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(text_keys, c, max_size=4)),
    max_leaves=15,
)


def typed(value):
    """A form of ``value`` that also compares types: 1, 1.0 and True, or a tuple and a list,
    are equal in Python but must not turn into each other on the way through the database."""
    kind = type(value).__name__
    if isinstance(value, dict):
        pairs = [(typed(k), typed(v)) for k, v in value.items()]
        # jsonpickle writes non-string keys after the others: such a dict keeps its items, not its order.
        return (kind, pairs if all(isinstance(k, str) for k in value) else sorted(pairs, key=repr))
    if isinstance(value, (list, tuple)):
        return (kind, [typed(v) for v in value])
    if isinstance(value, (set, frozenset)):
        return (kind, sorted(repr(typed(v)) for v in value))
    if isinstance(value, Note):
        return (kind, typed(value.title), typed(value.body))
    if isinstance(value, float) and value == 0:
        return (kind, repr(value))  # keep -0.0 apart from 0.0
    if isinstance(value, (dt.datetime, dt.time)):
        return (kind, value, value.tzinfo)
    return (kind, value)


# --- things that cannot be stored: live process state --------------------------------------


def _generator():
    yield 1


def _nested_function():
    def inner():
        return 1

    return inner


class _Holder:
    def method(self):
        return 1


UNSTORABLE = {
    "lock": lambda: threading.Lock(),
    "rlock": lambda: threading.RLock(),
    "event": lambda: threading.Event(),
    "generator": _generator,
    "lambda": lambda: lambda: 1,
    "nested function": _nested_function,
    "bound method": lambda: _Holder().method,
    "iterator": lambda: iter([1, 2]),
    "open file": lambda: io.StringIO("x"),
    "socket": lambda: socket.socket(),
}


def unstorable_kinds():
    return st.sampled_from(sorted(UNSTORABLE))


def embed(bad):
    """Strategies placing ``bad`` somewhere inside ordinary data (always exactly once)."""
    return st.recursive(
        st.just(bad),
        lambda inner: st.one_of(
            st.tuples(st.lists(st.integers(), max_size=2), inner).map(lambda t: [*t[0], t[1]]),
            st.tuples(st.text(max_size=3), inner),
            st.builds(lambda k, v: {k: v, "id": str(uuid.uuid4())}, st.text(max_size=5), inner),
            st.builds(Note, title=st.just("t"), body=inner),
        ),
        max_leaves=4,
    )
