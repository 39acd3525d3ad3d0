"""Execute one claimed run: replay its function from the top against its checkpoints."""

import contextlib
import logging
import traceback as tb
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError

from . import serialization, store, tracing
from .context import Interrupt, Park, RunContext, activate, deactivate
from .exceptions import MaxRecoveryAttemptsExceeded, NonDeterminismError, SerializationError, WorkflowImportError
from .faults import DatabaseFault, is_transient
from .models import Status
from .records import ClaimedRun
from .registry import resolve

logger = logging.getLogger("durable.worker")


@dataclass(frozen=True)
class Outcome:
    """What became of an execution: ``kind`` is succeeded, failed, parked, interrupted (cancelled
    or taken over), released (handed back: the worker drains) or fault (the database failed under
    it: replay it once the database answers). ``leased``: runs leased with its end or its park for
    this thread; ``looked``: its end looked for runs to lease (so none was runnable then)."""

    kind: str
    leased: tuple[ClaimedRun, ...] = ()
    looked: bool = False
    fault: BaseException | None = None


def execute(run: ClaimedRun, ctx: RunContext) -> Outcome:
    """Run ``run`` until it finishes, parks or is interrupted."""
    with tracing.run(run) as span:
        outcome = _guarded(run, ctx)
        tracing.run_ended(span, outcome.kind, outcome.fault)
        return outcome


def _guarded(run: ClaimedRun, ctx: RunContext) -> Outcome:
    try:
        return _execute(run, ctx)
    except DatabaseFault as fault:
        return Outcome("fault", fault=fault)
    except Exception as exc:
        if is_transient(exc):  # in the worker's own bookkeeping around the workflow
            return Outcome("fault", fault=exc)
        raise


def _execute(run: ClaimedRun, ctx: RunContext) -> Outcome:
    if run.recovery_attempts > run.max_recovery_attempts:
        exc = MaxRecoveryAttemptsExceeded(
            f"Workflow run {run.id} was recovered {run.recovery_attempts - 1} times after its worker died, "
            f"more than its limit of {run.max_recovery_attempts}. Fix the crash, then durable.resume() it."
        )
        return _fail(run, ctx, exc, "")
    try:
        wf = resolve(run.name, run.target)
        args, kwargs = serialization.loads_call(run.inputs)
    except WorkflowImportError as exc:
        return _fail(run, ctx, exc, tb.format_exc())
    if run.history is not None:
        ctx.checkpoints = dict(run.history)
    elif run.has_history:  # a fresh run has no history to load
        ctx.checkpoints = store.history(run.id)
    if ctx.pending is not None and ctx.pending.seq not in ctx.checkpoints:
        ctx.checkpoints[ctx.pending.seq] = ctx.pending  # a step's result that a database fault kept from the table
    else:
        ctx.pending = None
    ctx.history_read = True
    token = activate(ctx)
    try:
        result = wf.fn(*args, **kwargs)
    except Park:
        return Outcome("parked", leased=ctx.leased)
    except Interrupt as interrupt:
        return _interrupted(run, ctx, interrupt.reason)
    except NonDeterminismError as exc:  # a BaseException, so that workflow code cannot swallow it
        return _fail(run, ctx, exc, tb.format_exc())
    except Exception as exc:
        return _fail(run, ctx, exc, tb.format_exc())
    finally:
        deactivate(token)
    try:
        output = serialization.dumps(result, f"The return value of workflow {run.name}")
    except SerializationError as exc:
        return _fail(run, ctx, exc, tb.format_exc())
    return _end(run, ctx, "succeeded", status=Status.SUCCESS, output=output)


def _fail(run: ClaimedRun, ctx: RunContext, exc: BaseException, trace: str) -> Outcome:
    logger.info("workflow run %s (%s) failed: %s", run.id, run.name, exc)
    tracing.failed(exc)
    fields = dict(status=Status.ERROR, error=serialization.dumps_exception(exc),
                  error_message=f"{type(exc).__name__}: {exc}", traceback=trace)  # fmt: skip
    return _end(run, ctx, "failed", **fields)


def _end(run: ClaimedRun, ctx: RunContext, kind: str, **fields: Any) -> Outcome:
    operations = frozenset(cp.name for cp in ctx.checkpoints.values()) if ctx.history_read else None
    finished = store.finish(run.id, ctx.owner, run.parent_id, fields, ctx.pending, ctx.then, operations)
    ctx.pending = None
    return Outcome(kind if finished.recorded else "interrupted", leased=finished.leased, looked=finished.looked)


def _interrupted(run: ClaimedRun, ctx: RunContext, reason: str) -> Outcome:
    if reason == "draining":
        # Keep the last step's result, then hand the run back so any worker picks it up at once,
        # instead of after the lease.
        if ctx.pending is not None:
            with contextlib.suppress(IntegrityError):  # recorded already by a worker that took over
                store.write_checkpoint(ctx.pending, ctx.owner)
            ctx.pending = None
        store.release([run.id], ctx.owner)
        return Outcome("released")
    logger.info("workflow run %s stopped: %s", run.id, reason)
    return Outcome("interrupted")
