"""Pydantic AI's external-event waits (``RequestInput``, ``wait_for_external_event``) made durable.

A wait inside a run gets a resume token, ``"<run id>/<operation number>"``: the same on every
replay. Its ``ask`` callback runs in a step, so a replay never asks again; then the run parks
in ``durable.recv`` until ``resolve_external_event(token, payload)`` (or
``fail_external_event``) sends the answer, from any process.
"""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from pydantic import JsonValue
from pydantic_ai.external_events import ExternalEventError, ExternalEventWaiter

from . import aio, context

TOPIC_PREFIX = "pydantic_ai.external_event:"


class DurableWaiter(ExternalEventWaiter):
    def __init__(self, agent_name: str) -> None:
        self.agent_name = agent_name

    async def wait(
        self, name: str, *, ask: Callable[[str], Awaitable[JsonValue]], timeout: timedelta | None
    ) -> JsonValue:
        ctx = context.require("recv")
        token = f"{ctx.run_id}/{ctx.seq}"
        answer = await aio.run_step(f"{self.agent_name}__external_event.{name}.ask", lambda: ask(token))
        if answer is not None:
            return answer
        seconds = None if timeout is None else timeout.total_seconds()
        message = await aio.call_sync(_recv, _topic(token), seconds)
        if message is None:
            raise ExternalEventError(f"Nobody resolved the wait {name!r} (token {token}) within {timeout}.")
        if "error" in message:
            raise ExternalEventError(str(message["error"]))
        payload: JsonValue = message["payload"]
        return payload


def resolve_external_event(token: str, payload: JsonValue) -> bool:
    """Answer the durable wait ``token`` with ``payload`` (JSON; for ``RequestInput``, the JSON form of
    ``DeferredToolResults``). False if that token was already answered."""
    return _send(token, {"payload": payload})


def fail_external_event(token: str, reason: str) -> bool:
    """End the durable wait ``token`` with a failure: the waiting run gets ``ExternalEventError(reason)``."""
    return _send(token, {"error": reason})


def _send(token: str, message: dict[str, Any]) -> bool:
    from .messaging import send  # models load with the app registry, after this module

    run_id, slash, _ = token.rpartition("/")
    if not slash or not run_id:
        raise ValueError(f"{token!r} is not a resume token of this engine (they look like '<run id>/<number>').")
    return send(run_id, message, topic=_topic(token), idempotency_key=f"external_event:{token}")


def _recv(topic: str, seconds: float | None) -> Any:
    from .messaging import recv

    return recv(topic, timeout=seconds)


def _topic(token: str) -> str:
    return TOPIC_PREFIX + token.rpartition("/")[2]
