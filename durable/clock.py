"""Deterministic time: ``durable.now`` and ``durable.sleep`` (the wake time is persisted)."""

from datetime import datetime, timedelta

from django.utils import timezone

from . import context, replay, serialization
from .messaging import Duration, seconds
from .models import StepKind


def now() -> datetime:
    """The current time, recorded the first time so replays see the same value."""
    ctx = context.get()
    if ctx is None:
        return timezone.now()
    seq, cp = replay.next_op(ctx, StepKind.NOW, "now")
    if cp is not None:
        return replay.outcome(cp)  # type: ignore[no-any-return]
    value = timezone.now()
    replay.record(ctx, seq, StepKind.NOW, "now", output=serialization.dumps(value))
    return value


def sleep(duration: Duration) -> None:
    """Sleep durably: the run parks until the wake time, which survives restarts."""
    ctx = context.require("sleep")
    seq, cp = replay.next_op(ctx, StepKind.SLEEP, "sleep")
    if cp is not None and cp.done:
        return
    wake_at = cp.deadline if cp is not None and cp.deadline else timezone.now() + timedelta(seconds=seconds(duration))
    if timezone.now() >= wake_at:
        if cp is None:
            replay.record(ctx, seq, StepKind.SLEEP, "sleep", deadline=wake_at, output=serialization.dumps(None))
        else:
            replay.complete(ctx, cp, serialization.dumps(None))
        return
    if cp is None:
        replay.record(ctx, seq, StepKind.SLEEP, "sleep", deadline=wake_at, done=False)
    replay.park(ctx, None, wake_at)
