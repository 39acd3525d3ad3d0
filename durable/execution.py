"""Execute one claimed run: replay its function from the top against its checkpoints."""

import logging
import traceback as tb

from django.utils import timezone

from . import api, replay, serialization
from .context import Interrupt, Park, RunContext, activate, deactivate
from .exceptions import MaxRecoveryAttemptsExceeded, NonDeterminismError, SerializationError, WorkflowImportError
from .models import Checkpoint, Status, WorkflowRun
from .registry import resolve

logger = logging.getLogger("durable.worker")


def execute(run: WorkflowRun, ctx: RunContext) -> str:
    """Run ``run`` until it finishes, parks or is interrupted; return what happened."""
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
    history = getattr(run, "history", None)  # read by the claim on PostgreSQL
    if history is not None:
        ctx.checkpoints = history
    elif run.started_at is not None or run.forked_from:  # a fresh run has no history to load
        ctx.checkpoints = {cp.seq: cp for cp in Checkpoint.objects.using(replay.db()).filter(run_id=run.id)}
    token = activate(ctx)
    try:
        result = wf.fn(*args, **kwargs)
    except Park:
        return "parked"
    except Interrupt as interrupt:
        return _interrupted(run, ctx, interrupt.reason)
    except NonDeterminismError as exc:
        return _fail(run, ctx, exc, tb.format_exc())
    except Exception as exc:
        return _fail(run, ctx, exc, tb.format_exc())
    finally:
        deactivate(token)
    try:
        output = serialization.dumps(result, f"The return value of workflow {run.name}")
    except SerializationError as exc:
        return _fail(run, ctx, exc, tb.format_exc())
    api.finish_run(
        run.id, ctx.owner, run.parent_id, pending=ctx.pending, then=ctx.then, status=Status.SUCCESS, output=output
    )
    return "succeeded"


def _fail(run: WorkflowRun, ctx: RunContext, exc: BaseException, trace: str) -> str:
    logger.info("workflow run %s (%s) failed: %s", run.id, run.name, exc)
    api.finish_run(
        run.id,
        ctx.owner,
        run.parent_id,
        pending=ctx.pending,
        then=ctx.then,
        status=Status.ERROR,
        error=serialization.dumps_exception(exc),
        error_message=f"{type(exc).__name__}: {exc}",
        traceback=trace,
    )
    return "failed"


def _interrupted(run: WorkflowRun, ctx: RunContext, reason: str) -> str:
    if reason == "draining":
        # Hand the run back so any worker picks it up at once, instead of after the lease.
        WorkflowRun.objects.using(replay.db()).filter(id=run.id).held_by(ctx.owner).update(
            status=Status.ENQUEUED,
            lease_owner="",
            ready_at=timezone.now(),
        )
        return "released"
    logger.info("workflow run %s stopped: %s", run.id, reason)
    return "interrupted"
