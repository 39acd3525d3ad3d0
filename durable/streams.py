"""Streams: ordered values a live run publishes under a key (tokens, progress), read from outside
as a generator that follows the run.

Each value is written once. In the workflow body a write is a durable operation: its checkpoint
and its row commit together, and a replay skips it. In a step, the n-th value one attempt of the
step writes is keyed by (the step's seq, n): a retry or a crash-replay of the step that writes
again finds the earlier attempt's row and is ignored, so the stream keeps, at each index, the
first value written there, and goes on from where the earlier attempt stopped. A step whose
attempts write the same values therefore streams them once, with no duplicate and no gap.
"""

import time
from collections.abc import Iterator
from typing import Any

from django.db import IntegrityError, connections

from . import context, replay, serialization, store, writelock
from .context import RunContext
from .exceptions import EngineError, NotInWorkflow, WorkflowNotFound
from .faults import retry_rolled_back
from .models import TERMINAL, StepKind, StreamValue, WorkflowRun

BATCH = 500
# A reader looks again after 2 ms, then backs off to this while nothing arrives.
MAX_PAUSE = 0.1


class StreamClosed(ValueError):
    """A write to a stream that was closed."""


def write_stream(key: str, value: Any) -> None:
    """Append ``value`` to the run's stream ``key`` (in the workflow body or in a step)."""
    text = serialization.dumps(value, f"The value written to stream {key!r}")
    _write(key, text, closed=False, what="write_stream")


def close_stream(key: str) -> None:
    """End the run's stream ``key``: its readers stop once they have read every value."""
    _write(key, None, closed=True, what="close_stream")


def _write(key: str, text: str | None, closed: bool, what: str) -> None:
    if not isinstance(key, str):
        raise TypeError(f"A stream key is a string, not {key!r}.")
    ctx = context.raw()
    if ctx is None:
        raise NotInWorkflow(
            f"durable.{what}() was called outside a workflow. Call it from a @durable.workflow or a "
            "@durable.step that a worker runs; read a stream from outside with durable.read_stream()."
        )
    if (seq := ctx.step_seq) is not None:
        item = ctx.stream_items
        ctx.stream_items += 1
        # In a step, a write told to retry (SQLSTATE 40001) is retried here, not failed as the step's error.
        retry_rolled_back(store.db(), lambda: _append(ctx.run_id, key, seq, item, text, closed))
        return
    _in_body(ctx, key, text, closed)


def _in_body(ctx: RunContext, key: str, text: str | None, closed: bool) -> None:
    kind = StepKind.CLOSE_STREAM if closed else StepKind.WRITE_STREAM
    seq, cp = replay.next_op(ctx, kind, key)
    if cp is not None:
        return

    def once() -> None:
        with writelock.atomic(store.db()):
            _append(ctx.run_id, key, seq, 0, text, closed)
            replay.record(ctx, seq, kind, key, output=serialization.dumps(None))

    replay.guarded(f"the {kind} {key!r} of run {ctx.run_id}", once)


def _append(run_id: str, key: str, seq: int, item: int, text: str | None, closed: bool) -> bool:
    """Store the write (``seq``, ``item``) at the stream's next position; False if it was
    stored before (its unique constraint says so: two statements for a new value). Two writers
    that take the same position (a run and a worker that lost its lease) are told apart by the
    unique position: the second looks again."""
    rows = StreamValue.objects.using(store.db())
    relaxed = _relaxable()
    for _ in range(20):
        last = rows.filter(run_id=run_id, key=key).order_by("-position").values_list("position", "closed").first()
        if last is not None and last[1]:
            if closed or _stored(run_id, seq, item):
                return False  # closing twice is closing once; a write replayed after the close was made before it
            raise StreamClosed(
                f"Stream {key!r} of workflow run {run_id} is closed: nothing more can be written to it. "
                "Close a stream after its last write, or write to another key."
            )
        position = 0 if last is None else last[0] + 1
        try:
            with writelock.atomic(store.db()):
                if relaxed:
                    _relax_commit()
                rows.create(run_id=run_id, key=key, position=position, seq=seq, item=item, value=text, closed=closed)
        except IntegrityError:
            if _stored(run_id, seq, item):
                return False  # written before, by an earlier attempt or execution
            continue  # the position was taken meanwhile: look again
        return True
    raise EngineError(f"Could not append to stream {key!r} of workflow run {run_id}: its position kept being taken.")


def _relaxable() -> bool:
    """Whether this write may commit without waiting for the disk flush: on PostgreSQL, a step's
    write (its own transaction). The step's checkpoint, a normal commit, flushes it; a crash that
    loses it loses that checkpoint too, so the step runs again and writes the same values at the
    same places. A write in the body commits with its checkpoint, normally."""
    conn = connections[store.db()]
    return conn.vendor == "postgresql" and not conn.in_atomic_block


def _relax_commit() -> None:
    with connections[store.db()].cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _stored(run_id: str, seq: int, item: int) -> bool:
    return bool(StreamValue.objects.using(store.db()).filter(run_id=run_id, seq=seq, item=item).exists())


def read_stream(run_id: str, key: str) -> Iterator[Any]:
    """Yield the values of run ``run_id``'s stream ``key`` in order, following the run while it
    lives: the generator ends once the stream is closed or the run has ended (and every value
    it wrote has been yielded). Call it outside a workflow (or in a step)."""
    if context.get() is not None:
        raise NotInWorkflow(
            "durable.read_stream() follows a live run and cannot be replayed, so it is not available "
            "in a workflow body. Read the stream in a @durable.step, or from outside the workflow."
        )
    return _follow(run_id, key)


def _follow(run_id: str, key: str) -> Iterator[Any]:
    rows = StreamValue.objects.using(store.db()).filter(run_id=run_id, key=key)
    after, pause, ended = -1, 0.002, False
    while True:
        newer = rows.filter(position__gt=after).order_by("position")
        batch = retry_rolled_back(store.db(), lambda: list(newer.values_list("position", "value", "closed")[:BATCH]))  # noqa: B023
        for position, text, closed in batch:
            if closed:
                return
            after = position
            yield serialization.loads(text)
        if batch:
            pause = 0.002
            continue
        if ended:
            return  # the run had ended before this read, which found nothing more
        ended = retry_rolled_back(store.db(), lambda: _ended(run_id))
        if not ended:
            time.sleep(pause)
            pause = min(pause * 1.5, MAX_PAUSE)


def _ended(run_id: str) -> bool:
    status = WorkflowRun.objects.using(store.db()).filter(id=run_id).values_list("status", flat=True).first()
    if status is None:
        raise WorkflowNotFound(f"Cannot read a stream of workflow run {run_id!r}: there is no such run.")
    return status in TERMINAL
