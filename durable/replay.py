"""Checkpoints: every durable operation takes the next sequence number and, on replay,
returns what was recorded for it instead of acting again."""

from datetime import datetime
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from . import groupcommit, pgsql, serialization
from .conf import get_settings
from .context import Interrupt, Park, RunContext
from .exceptions import NonDeterminismError
from .models import Checkpoint, Status, WorkflowRun


def db() -> str:
    return get_settings().DATABASE


def next_op(ctx: RunContext, kind: str, name: str) -> tuple[int, Checkpoint | None]:
    """Take the next sequence number; return the checkpoint recorded for it, if any."""
    flush(ctx)
    seq = ctx.next_seq()
    cp = ctx.checkpoints.get(seq)
    if cp is not None and (cp.kind != kind or cp.name != name):
        raise NonDeterminismError(
            f"Workflow run {ctx.run_id} is not deterministic at operation #{seq}: the history "
            f"recorded {cp.kind} {cp.name!r} but the code now does {kind} {name!r}. The code changed "
            "incompatibly since this run started. Deploy the old code to let it finish, fork it "
            f"from step {seq} (durable.fork(run_id, from_step={seq})) to continue on the new code, "
            "or cancel it."
        )
    return seq, cp


def outcome(cp: Checkpoint) -> Any:
    """Return the recorded output, or raise the recorded exception."""
    if cp.error is not None:
        raise serialization.loads(cp.error)
    return serialization.loads(cp.output)


def record(
    ctx: RunContext,
    seq: int,
    kind: str,
    name: str,
    *,
    output: str | None = None,
    error: str | None = None,
    started_at: datetime | None = None,
    attempts: int = 1,
    deadline: datetime | None = None,
    done: bool = True,
    defer: bool = False,
) -> Checkpoint:
    """Insert the checkpoint for ``seq``, then stop the run if it was cancelled or taken over
    meanwhile, so it goes no further than the step it was in. A second writer for the same run
    and seq means another worker took the run over.

    ``defer`` (a step's result): the checkpoint must be durable before the run acts again, not
    before its plain code goes on, so the next durable operation writes it first, or the run's
    end writes it in the same statement. A crash before then repeats the step, as a crash just
    before its checkpoint's commit would."""
    now = timezone.now()
    cp = Checkpoint(
        run_id=ctx.run_id,
        seq=seq,
        kind=kind,
        name=name,
        output=output,
        error=error,
        started_at=started_at or now,
        finished_at=now if done else None,
        attempts=attempts,
        deadline=deadline,
    )
    if defer:
        ctx.checkpoints[seq] = ctx.pending = cp
        return cp
    return _write(ctx, cp)


def flush(ctx: RunContext) -> None:
    """Write the step checkpoint the run deferred, if any."""
    cp, ctx.pending = ctx.pending, None
    if cp is not None:
        _write(ctx, cp)


def _write(ctx: RunContext, cp: Checkpoint) -> Checkpoint:
    try:
        # No savepoint: inside a caller's transaction the Interrupt rolls all of it back.
        held = insert_checkpoint(cp, ctx.owner)
    except IntegrityError:
        raise Interrupt("lease lost: another worker recorded this step") from None
    ctx.checkpoints[cp.seq] = cp
    if not held:
        raise Interrupt("lease lost or run cancelled")
    return cp


def insert_checkpoint(cp: Checkpoint, owner: str) -> bool:
    """Insert ``cp`` and tell whether ``owner`` still holds the run: one round trip on
    PostgreSQL, where this is the per-step cost that matters."""
    if not pgsql.enabled(db()):
        cp.save(using=db(), force_insert=True)
        return WorkflowRun.objects.using(db()).filter(id=cp.run_id).held_by(owner).exists()
    if connections[db()].in_atomic_block:
        return pgsql.insert_checkpoint(db(), cp, owner)  # commits or rolls back with the caller's transaction
    return groupcommit.writer(db()).write(cp, owner)


def finish(ctx: RunContext, cp: Checkpoint, output: str | None) -> None:
    """Complete a checkpoint recorded as pending (a recv or sleep that parked)."""
    cp.output = output
    cp.finished_at = timezone.now()
    updated = (
        Checkpoint.objects.using(db())
        .filter(pk=cp.pk, finished_at__isnull=True)
        .update(output=output, finished_at=cp.finished_at)
    )
    if not updated:
        raise Interrupt("lease lost: another worker completed this step")


def park(ctx: RunContext, topic: str | None, deadline: datetime | None, ready: Any = None) -> None:
    """Record what the run waits for and unwind it, unless ``ready()`` finds that it has
    already arrived. Runs under the run's row lock, which ``wake`` also takes, so a wake-up
    between the check and the park cannot be lost. Returns only if ``ready()`` was true."""
    with transaction.atomic(using=db()):
        relaxed_commit()
        held = WorkflowRun.objects.using(db()).select_for_update().filter(id=ctx.run_id).held_by(ctx.owner).exists()
        if not held:
            raise Interrupt("lease lost or run cancelled")
        if ready is not None and ready():
            return
        WorkflowRun.objects.using(db()).filter(id=ctx.run_id).update(
            status=Status.WAITING, wait_topic=topic, wait_until=deadline, ready_at=deadline, lease_owner=""
        )
    ctx.parked_until = deadline
    raise Park()


def wake(run_id: str, topic: str) -> bool:
    """Make a run parked on ``topic`` runnable. Call inside a transaction holding its row lock."""
    return bool(
        WorkflowRun.objects.using(db())
        .filter(id=run_id, status=Status.WAITING, wait_topic=topic)
        .update(status=Status.ENQUEUED, ready_at=timezone.now(), wait_topic=None, wait_until=None)
    )


def lock_run(run_id: str) -> tuple[str, str | None] | None:
    """Take the run's row lock; return its (status, wait_topic), or None if there is no such run."""
    row = (
        WorkflowRun.objects.using(db())
        .select_for_update()
        .filter(id=run_id)
        .values_list("status", "wait_topic")
        .first()
    )
    return row


def relaxed_commit() -> None:
    """Let this transaction commit without waiting for the disk flush (PostgreSQL).

    Only for the engine's own bookkeeping that a database crash may lose without harm: a
    claim, a park, a consumed message. Losing one puts the run back where it was before, and
    replay repeats it. Anything the outside world can see (a start, a send, a step's result
    reported onward) is a normal commit, and a normal commit also flushes every commit before it.
    """
    conn = connections[db()]
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
