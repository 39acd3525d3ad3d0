"""Notifications (send/recv) and events (set_event/get_event)."""

import time
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import context, notify, pgsql, replay, serialization
from .context import Interrupt, RunContext
from .exceptions import WorkflowNotFound
from .models import Checkpoint, Event, Message, StepKind

Duration = float | int | timedelta


def seconds(duration: Duration) -> float:
    if isinstance(duration, timedelta):
        return duration.total_seconds()
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise TypeError(f"A duration is a timedelta or a number of seconds, not {duration!r}.")
    return float(duration)


def send(workflow_id: str, message: Any, topic: str = "", idempotency_key: str | None = None) -> bool:
    """Deliver ``message`` to a run's ``topic``. Returns False if the idempotency key was
    already delivered. Inside a workflow the send is checkpointed and happens once."""
    body = serialization.dumps(message, "The message")
    ctx = context.get()
    if ctx is None:
        if pgsql.enabled(replay.db()):
            return _deliver(workflow_id, topic, body, idempotency_key, sender="")  # one statement
        with transaction.atomic(using=replay.db()):
            return _deliver(workflow_id, topic, body, idempotency_key, sender="")
    seq, cp = replay.next_op(ctx, StepKind.SEND, topic)
    if cp is not None:
        return bool(replay.outcome(cp))
    with transaction.atomic(using=replay.db()):
        # Keyed by our own position, so a crash between delivery and checkpoint cannot send twice.
        delivered = _deliver(workflow_id, topic, body, idempotency_key or f"{ctx.run_id}:{seq}", sender=ctx.run_id)
        replay.record(ctx, seq, StepKind.SEND, topic, output=serialization.dumps(delivered))
    return delivered


def _deliver(workflow_id: str, topic: str, body: str, key: str | None, sender: str) -> bool:
    if pgsql.enabled(replay.db()):
        delivered = pgsql.deliver(replay.db(), workflow_id, topic, body, key, sender, timezone.now())
    else:
        delivered = _deliver_orm(workflow_id, topic, body, key, sender)
    if delivered is None:
        raise WorkflowNotFound(
            f"Cannot send to workflow run {workflow_id!r}: there is no such run. Start it first "
            "(durable.start) or check the id."
        )
    return delivered


def _deliver_orm(workflow_id: str, topic: str, body: str, key: str | None, sender: str) -> bool | None:
    row = replay.lock_run(workflow_id)
    if row is None:
        return None
    msgs = Message.objects.using(replay.db())
    if key is not None and msgs.filter(destination_id=workflow_id, idempotency_key=key).exists():
        return False
    msgs.create(destination_id=workflow_id, topic=topic, body=body, idempotency_key=key, sender=sender)
    status, wait_topic = row
    if status == "WAITING" and wait_topic == topic and replay.wake(workflow_id, topic):
        notify.workers_after_commit()
    return True


def recv(topic: str = "", timeout: Duration | None = 60.0) -> Any:
    """Return the oldest unconsumed message on ``topic``, or None once ``timeout`` passes.

    If nothing is there, the run parks: the thread is freed and the run comes back when a
    message arrives or the (persisted, absolute) deadline passes. ``timeout=None`` waits forever.
    """
    ctx = context.require("recv")
    seq, cp = replay.next_op(ctx, StepKind.RECV, topic)
    if cp is not None and cp.done:
        return replay.outcome(cp)
    deadline = cp.deadline if cp is not None else _deadline(timeout)
    while True:
        found, value = _consume(ctx, seq, topic, cp)
        if found:
            return value
        if deadline is not None and timezone.now() >= deadline:
            _complete(ctx, seq, StepKind.RECV, topic, cp, serialization.dumps(None))
            return None
        if cp is None:
            cp = replay.record(ctx, seq, StepKind.RECV, topic, deadline=deadline, done=False)
        replay.park(ctx, topic, deadline, ready=lambda: _pending(ctx.run_id, topic).exists())


def _deadline(timeout: Duration | None) -> datetime | None:
    if timeout is None:
        return None
    return timezone.now() + timedelta(seconds=seconds(timeout))


def _pending(run_id: str, topic: str) -> Any:
    return Message.objects.using(replay.db()).filter(destination_id=run_id, topic=topic, consumed_at__isnull=True)


def _consume(ctx: RunContext, seq: int, topic: str, cp: Any) -> tuple[bool, Any]:
    """Take the oldest pending message on ``topic`` as the outcome of the recv at ``seq``."""
    if pgsql.enabled(replay.db()):
        return _consume_pg(ctx, seq, topic, cp)
    with transaction.atomic(using=replay.db()):
        msg = _pending(ctx.run_id, topic).order_by("id").only("id", "body").first()
        if msg is None:
            return False, None
        replay.relaxed_commit()
        _pending(ctx.run_id, topic).filter(id=msg.id).update(consumed_at=timezone.now(), consumed_seq=seq)
        _complete(ctx, seq, StepKind.RECV, topic, cp, msg.body)
    return True, serialization.loads(msg.body)


def _consume_pg(ctx: RunContext, seq: int, topic: str, cp: Checkpoint | None) -> tuple[bool, Any]:
    if cp is None:
        cp = Checkpoint(run_id=ctx.run_id, seq=seq, kind=StepKind.RECV, name=topic)
    try:
        body, written = pgsql.consume(replay.db(), cp, ctx.owner, timezone.now())
    except IntegrityError:
        raise Interrupt("lease lost: another worker recorded this step") from None
    if body is None:
        return False, None
    if not written:
        raise Interrupt("lease lost or run cancelled")
    ctx.checkpoints[seq] = cp
    return True, serialization.loads(body)


def _complete(ctx: RunContext, seq: int, kind: str, name: str, cp: Any, output: str) -> None:
    if cp is None:
        replay.record(ctx, seq, kind, name, output=output)
    else:
        replay.finish(ctx, cp, output)


def set_event(key: str, value: Any) -> None:
    """Publish ``value`` as the latest value of ``key`` for this run (earlier values stay as history)."""
    ctx = context.require("set_event")
    seq, cp = replay.next_op(ctx, StepKind.SET_EVENT, key)
    if cp is not None:
        return
    text = serialization.dumps(value, f"The value of event {key!r}")
    with transaction.atomic(using=replay.db()):
        Event.objects.using(replay.db()).create(run_id=ctx.run_id, key=key, value=text, seq=seq)
        replay.record(ctx, seq, StepKind.SET_EVENT, key, output=serialization.dumps(None))


def get_event(workflow_id: str, key: str, timeout: Duration = 0) -> Any:
    """The latest value a run published for ``key``, waiting up to ``timeout`` for one; None if none.
    Inside a workflow the value read is checkpointed."""
    ctx = context.get()
    if ctx is None:
        return _read_event(workflow_id, key, seconds(timeout))
    seq, cp = replay.next_op(ctx, StepKind.GET_EVENT, f"{workflow_id}:{key}")
    if cp is not None:
        return replay.outcome(cp)
    value = _read_event(workflow_id, key, seconds(timeout))
    replay.record(ctx, seq, StepKind.GET_EVENT, f"{workflow_id}:{key}", output=serialization.dumps(value))
    return value


def _read_event(workflow_id: str, key: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        text = event_history(workflow_id, key).values_list("value", flat=True).last()
        if text is not None or time.monotonic() >= deadline:
            return serialization.loads(text)
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.5)


def event_history(workflow_id: str, key: str | None = None) -> Any:
    """Every value a run published (for ``key``, if given), oldest first, as Event rows."""
    qs = Event.objects.using(replay.db()).filter(run_id=workflow_id)
    return qs.filter(key=key) if key is not None else qs
