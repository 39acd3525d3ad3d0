"""Waiting for a run to end: from outside (polling), or inside a workflow (parked, durably).

Any run's end wakes whoever is parked on it. A parent waiting for its child is woken exactly:
the child's end locks the parent's row, as the parent's park does. Any other waiter is woken by
the end's own statement, which can miss a waiter parking at that very instant; such a waiter
also parks with a deadline, and looks again then (after 1 s, then a quarter of the time it has
waited so far, at most a minute).
"""

import time
from datetime import timedelta
from typing import Any

from django.utils import timezone

from . import replay, serialization, store
from .context import RunContext
from .exceptions import ResultTimeout, WorkflowCancelled, WorkflowFailed, WorkflowNotFound
from .faults import retry_rolled_back
from .models import Status, StepKind, WorkflowRun

RECHECK_MIN = timedelta(seconds=1)
RECHECK_MAX = timedelta(seconds=60)


def get(run_id: str) -> WorkflowRun:
    try:
        # Under SERIALIZABLE isolation even a lone read can be told to retry (SQLSTATE 40001).
        return retry_rolled_back(store.db(), lambda: WorkflowRun.objects.using(store.db()).get(id=run_id))
    except WorkflowRun.DoesNotExist:
        raise WorkflowNotFound(f"There is no workflow run {run_id!r}.") from None


def outcome_of(run: WorkflowRun) -> Any:
    """A finished run's return value, or its exception raised."""
    if run.status == Status.SUCCESS:
        return run.result_value
    if run.status == Status.CANCELLED:
        raise WorkflowCancelled(f"Workflow run {run.id} was cancelled.")
    exc = run.exception
    if isinstance(exc, BaseException):
        raise exc
    raise WorkflowFailed(f"Workflow run {run.id} failed: {run.error_message}")


def poll(run_id: str, timeout: float | None) -> WorkflowRun:
    """Wait outside a workflow until the run ends (``ResultTimeout`` after ``timeout`` s)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = 0.002
    while True:
        run = get(run_id)
        if run.is_finished:
            return run
        if deadline is not None and time.monotonic() >= deadline:
            raise ResultTimeout(f"Workflow run {run_id} is still {run.status} after {timeout} s.")
        left = 3600.0 if deadline is None else deadline - time.monotonic()
        time.sleep(max(0.0, min(pause, left)))
        pause = min(pause * 1.5, 0.1)


def result(ctx: RunContext, run_id: str) -> Any:
    """Inside a workflow: park until the run ends, then return its result or raise its error.
    The outcome is recorded, so a replay returns it without waiting."""
    seq, cp = replay.next_op(ctx, StepKind.RESULT, run_id)
    if cp is not None and cp.done:
        return replay.outcome(cp)
    what = f"the wait of run {ctx.run_id} for run {run_id}"
    while (run := replay.guarded(what, lambda: _ended(run_id))) is None:
        if cp is None:
            cp = replay.record(ctx, seq, StepKind.RESULT, run_id, done=False)
        own_child = replay.guarded(what, lambda: run_parent(run_id)) == ctx.run_id
        deadline = None if own_child else timezone.now() + _recheck(timezone.now() - cp.started_at)
        replay.park(
            ctx,
            store.end_topic(run_id),
            deadline,
            ready=lambda: _ended(run_id) is not None,
            share=None if own_child else run_id,
        )
    try:
        value = outcome_of(run)
    except Exception as exc:
        _record(ctx, seq, run_id, cp, error=serialization.dumps_exception(exc))
        raise
    _record(ctx, seq, run_id, cp, output=run.output)
    return value


def _record(
    ctx: RunContext, seq: int, run_id: str, cp: Any, output: str | None = None, error: str | None = None
) -> None:
    if cp is None:
        replay.record(ctx, seq, StepKind.RESULT, run_id, output=output, error=error)
    else:
        replay.complete(ctx, cp, output, error)


def _ended(run_id: str) -> WorkflowRun | None:
    run = WorkflowRun.objects.using(store.db()).filter(id=run_id).only("status", "output", "error", "error_message")
    found = run.first()
    if found is None:
        raise WorkflowNotFound(f"There is no workflow run {run_id!r} to wait for.")
    return found if found.is_finished else None


def run_parent(run_id: str) -> str | None:
    return WorkflowRun.objects.using(store.db()).filter(id=run_id).values_list("parent_id", flat=True).first()


def _recheck(waited: timedelta) -> timedelta:
    return min(RECHECK_MAX, max(RECHECK_MIN, waited / 4))
