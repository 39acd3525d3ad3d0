"""Notifications (send/recv) and events (set_event/get_event, event_history)."""

import time
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError
from django.utils import timezone

from . import context, replay, serialization, store, tracing, writelock
from .context import Interrupt, RunContext
from .exceptions import WorkflowNotFound
from .faults import engine_operation, retry_rolled_back
from .models import Checkpoint, Event, StepKind

Duration = float | int | timedelta


def seconds(duration: Duration) -> float:
    if isinstance(duration, timedelta):
        return duration.total_seconds()
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise TypeError(f"A duration is a timedelta or a number of seconds, not {duration!r}.")
    return float(duration)


def send(workflow_id: str, message: Any, topic: str | None = "", idempotency_key: str | None = None) -> bool:
    """Deliver ``message`` to a run's ``topic`` (None: the default topic, ""). Returns False if the
    idempotency key was already delivered. Inside a workflow the send is checkpointed and happens once."""
    topic = _topic(topic)
    body = serialization.dumps(message, "The message")
    ctx = context.get()
    if ctx is None:
        return _deliver(workflow_id, topic, body, idempotency_key, sender="")
    seq, cp = replay.next_op(ctx, StepKind.SEND, topic)
    if cp is not None:
        return bool(replay.outcome(cp))

    def send_once() -> bool:
        with writelock.atomic(store.db()):
            # Keyed by our own position, so a crash between delivery and checkpoint cannot send twice.
            key = idempotency_key or f"{ctx.run_id}:{seq}"
            delivered = _deliver(workflow_id, topic, body, key, sender=ctx.run_id)
            replay.record(ctx, seq, StepKind.SEND, topic, output=serialization.dumps(delivered))
        return delivered

    return bool(replay.guarded(f"a send to {workflow_id} by run {ctx.run_id}", send_once))


def _topic(topic: str | None) -> str:
    if topic is None:
        return ""
    if not isinstance(topic, str):
        raise TypeError(f"A topic is a string (or None for the default topic), not {topic!r}.")
    return topic


def _deliver(workflow_id: str, topic: str, body: str, key: str | None, sender: str) -> bool:
    delivered = store.deliver(workflow_id, topic, body, key, sender)
    if delivered is None:
        raise WorkflowNotFound(
            f"Cannot send to workflow run {workflow_id!r}: there is no such run. Start it first "
            "(durable.start) or check the id."
        )
    return delivered


def recv(topic: str | None = "", timeout: Duration | None = 60.0) -> Any:
    """Return the oldest unconsumed message on ``topic`` (None: the default topic, ""), or None
    once ``timeout`` passes.

    If nothing is there, the run parks: the thread is freed and the run comes back when a
    message arrives or the (persisted, absolute) deadline passes. ``timeout=None`` waits forever.
    """
    topic = _topic(topic)
    ctx = context.require("recv")
    seq, cp = replay.next_op(ctx, StepKind.RECV, topic)
    if cp is not None and cp.done:
        return replay.outcome(cp)
    deadline = cp.deadline if cp is not None else _deadline(timeout)
    if deadline is not None and timezone.now() >= deadline:
        found, value = _consume(ctx, seq, topic, cp)
        if found:
            return value
        _complete(ctx, seq, StepKind.RECV, topic, cp, serialization.dumps(None), deadline)
        return None
    # Take the message or park, in one statement on PostgreSQL; the pending checkpoint is
    # recorded with whichever happens.
    if cp is None:
        cp = replay.pending(ctx, seq, StepKind.RECV, topic, deadline)
    return serialization.loads(replay.receive(ctx, cp, deadline))


def _deadline(timeout: Duration | None) -> datetime | None:
    if timeout is None:
        return None
    return timezone.now() + timedelta(seconds=seconds(timeout))


def _consume(ctx: RunContext, seq: int, topic: str, cp: Checkpoint | None) -> tuple[bool, Any]:
    """Take the oldest pending message on ``topic`` as the outcome of the recv at ``seq``."""
    if cp is None:
        cp = Checkpoint(run_id=ctx.run_id, seq=seq, kind=StepKind.RECV, name=topic)
    with engine_operation(f"the recv on {topic!r} of run {ctx.run_id}"):
        try:
            body, written = store.consume(cp, ctx.owner)
        except IntegrityError:
            raise Interrupt("lease lost: another worker recorded this step") from None
    if body is None:
        return False, None
    if not written:
        raise Interrupt("lease lost or run cancelled")
    ctx.checkpoints[seq] = cp
    tracing.operation(ctx.run_id, cp)
    return True, serialization.loads(body)


def _complete(
    ctx: RunContext, seq: int, kind: str, name: str, cp: Checkpoint | None, output: str, deadline: datetime | None
) -> None:
    if cp is None or cp.pk is None:
        replay.record(ctx, seq, kind, name, output=output, deadline=deadline)
    else:
        replay.complete(ctx, cp, output)


def set_event(key: str, value: Any) -> None:
    """Publish ``value`` as the latest value of ``key`` for this run (earlier values stay as
    history), and wake runs parked in ``get_event`` for it."""
    ctx = context.require("set_event")
    seq, cp = replay.next_op(ctx, StepKind.SET_EVENT, key)
    if cp is not None:
        return
    text = serialization.dumps(value, f"The value of event {key!r}")

    def publish() -> None:
        with writelock.atomic(store.db()):
            store.publish_event(ctx.run_id, key, text, seq)
            replay.record(ctx, seq, StepKind.SET_EVENT, key, output=serialization.dumps(None))

    replay.guarded(f"the event {key!r} of run {ctx.run_id}", publish)


def get_event(workflow_id: str, key: str, timeout: Duration = 0) -> Any:
    """The latest value a run published for ``key``, waiting up to ``timeout`` for one; None if
    none. Inside a workflow the value read is recorded, and a wait parks the run."""
    ctx = context.get()
    if ctx is None:
        return _read_event(workflow_id, key, seconds(timeout))
    name = f"{replay.ref(ctx, workflow_id)}:{key}"
    seq, cp = replay.next_op(ctx, StepKind.GET_EVENT, name)
    if cp is not None and cp.done:
        return replay.outcome(cp)
    deadline = (cp.deadline if cp is not None else None) or timezone.now() + timedelta(seconds=seconds(timeout))
    while True:
        text = replay.guarded(f"the read of event {key!r} by run {ctx.run_id}", lambda: _latest(workflow_id, key))
        if text is not None or timezone.now() >= deadline:
            _complete(ctx, seq, StepKind.GET_EVENT, name, cp, text or serialization.dumps(None), deadline)
            return serialization.loads(text)
        if cp is None:
            cp = replay.record(ctx, seq, StepKind.GET_EVENT, name, deadline=deadline, done=False)
        replay.park(
            ctx,
            store.event_topic(workflow_id, key),
            deadline,
            ready=lambda: _latest(workflow_id, key) is not None,
            share=workflow_id,
        )


def _events(workflow_id: str, key: str | None = None) -> Any:
    qs = Event.objects.using(store.db()).filter(run_id=workflow_id)
    return qs.filter(key=key) if key is not None else qs


def _latest(workflow_id: str, key: str) -> str | None:
    return _events(workflow_id, key).values_list("value", flat=True).last()  # type: ignore[no-any-return]


def _read_event(workflow_id: str, key: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        text = retry_rolled_back(store.db(), lambda: _latest(workflow_id, key))
        if text is not None or time.monotonic() >= deadline:
            return serialization.loads(text)
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.5)


def event_history(workflow_id: str, key: str | None = None) -> Any:
    """Every value a run published (for ``key``, if given), oldest first, as Event rows. Inside a
    workflow: a list of them as read the first time (recorded)."""
    qs = _events(workflow_id, key)
    ctx = context.get()
    if ctx is None:
        return qs
    name = f"event_history:{replay.ref(ctx, workflow_id)}:{'' if key is None else key}"
    rows = replay.read(ctx, name, lambda: [_event_fields(e) for e in qs])
    return [_unsaved_event(row) for row in rows]


def _event_fields(event: Event) -> dict[str, Any]:
    return {"id": event.id, "run_id": event.run_id, "key": event.key, "value": event.value, "seq": event.seq,
            "created_at": event.created_at}  # fmt: skip


def _unsaved_event(fields: dict[str, Any]) -> Event:
    event = Event(**fields)
    event._state.adding = False
    return event
