"""Sample workflows and value types for the property-based tests (workers import them by path)."""

import dataclasses
import threading
from typing import Any

import durable


@dataclasses.dataclass
class Note:
    """An ordinary object an agent passes around."""

    title: str
    body: Any


@durable.step()
def identity(value: Any) -> Any:
    return value


@durable.workflow()
def round_trip(value: Any) -> list[Any]:
    """The value travels as argument, step result, event and message, and comes back as the result."""
    stepped = identity(value)
    durable.set_event("value", stepped)
    durable.send(durable.workflow_id(), stepped, topic="self")
    echoed = durable.recv("self", timeout=30)
    received = durable.recv("outside", timeout=30)
    return [value, stepped, echoed, received]


STEP_CALLS: list[str] = []


@durable.step()
def make_lock() -> Any:
    STEP_CALLS.append("make_lock")
    return {"guard": threading.Lock()}


@durable.workflow()
def returns_lock_from_step() -> Any:
    return make_lock()


@durable.workflow()
def publishes_lambda() -> None:
    durable.set_event("callback", {"on_done": lambda: None})


@durable.workflow()
def sends_generator(target: str) -> None:
    durable.send(target, (i for i in range(3)))
