"""Checkpoints: every durable operation takes the next sequence number and, on replay, returns
what was recorded for it instead of acting again. The writes themselves go through ``store``."""

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn

from django.db import IntegrityError
from django.utils import timezone

from . import serialization, store, tracing
from .context import Interrupt, Park, RunContext
from .exceptions import NonDeterminismError
from .faults import engine_operation, retry_rolled_back
from .models import Checkpoint, StepKind
from .pgsql import SeqTaken

SELF = "self"


def db() -> str:
    return store.db()


def ref(ctx: RunContext, run_id: str) -> str:
    """How an operation's name refers to a run: the run itself as ``self``, so that a fork (a
    run with another id) replays the same names."""
    return SELF if run_id == ctx.run_id else run_id


def next_op(ctx: RunContext, kind: str, name: str) -> tuple[int, Checkpoint | None]:
    """Take the next sequence number; return the checkpoint recorded for it, if any."""
    flush(ctx)
    seq = ctx.next_seq()
    cp = ctx.checkpoints.get(seq)
    if cp is not None and (cp.kind != kind or not _same_name(ctx, cp.name, name)):
        raise NonDeterminismError(
            f"Workflow run {ctx.run_id} is not deterministic at operation #{seq}: the history "
            f"recorded {cp.kind} {cp.name!r} but the code now does {kind} {name!r}. The code changed "
            "incompatibly since this run started. Deploy the old code to let it finish, fork it "
            f"from step {seq} (durable.fork(run_id, from_step={seq})) to continue on the new code, "
            "or cancel it."
        )
    return seq, cp


def _same_name(ctx: RunContext, recorded: str, name: str) -> bool:
    if recorded == name:
        return True
    # Before ``self``, a run's reads of itself were recorded under its id (or its original's, in a fork).
    rest = name[len(SELF) :] if name.startswith(SELF + ":") else None
    return rest is not None and recorded in (ctx.run_id + rest, ctx.forked_from + rest)


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
    _write(ctx, cp)
    if kind != StepKind.STEP:  # a step has its span around its body (steps.py)
        tracing.operation(ctx.run_id, cp)
    return cp


def pending(ctx: RunContext, seq: int, kind: str, name: str, deadline: datetime | None) -> Checkpoint:
    """The checkpoint of an operation that is about to park, not saved yet: ``park`` records it
    with the park itself (one write instead of two)."""
    return Checkpoint(run_id=ctx.run_id, seq=seq, kind=kind, name=name, started_at=timezone.now(), deadline=deadline)


def flush(ctx: RunContext) -> bool:
    """Write the step checkpoint the run deferred, if any; whether one was written (which also
    confirmed that the run is still this worker's)."""
    cp = ctx.pending
    if cp is None:
        return False
    _write(ctx, cp)
    ctx.pending = None
    return True


def _write(ctx: RunContext, cp: Checkpoint) -> Checkpoint:
    with engine_operation(f"{cp.kind} {cp.name!r} (operation #{cp.seq}) of run {ctx.run_id}"):
        try:
            # No savepoint: inside a caller's transaction the Interrupt rolls all of it back.
            held = store.write_checkpoint(cp, ctx.owner)
        except IntegrityError as exc:
            if isinstance(exc, SeqTaken) or _is_seq_conflict(exc):
                raise Interrupt("lease lost: another worker recorded this step") from None
            raise
    ctx.checkpoints[cp.seq] = cp
    if not held:
        raise Interrupt("lease lost or run cancelled")
    ctx.confirmed_at = time.monotonic()
    return cp


def _is_seq_conflict(exc: IntegrityError) -> bool:
    text = str(exc)
    return "durable_checkpoint_unique_seq" in text or "durable_checkpoint.run_id, durable_checkpoint.seq" in text


# A confirmation this recent stands for a check of its own: a cancel that commits within it is
# indistinguishable from one that commits just after a check, as the check's own round trip takes
# about as long. It spares the first step after a claim (or after a run's end leased the next run
# on the same thread) a statement of its own.
FRESH = 0.002


def ensure_held(ctx: RunContext) -> None:
    """Stop here if the run was cancelled or taken over (before a step's body), unless the
    database confirmed within ``FRESH`` seconds that the run is still this worker's."""
    if ctx.interrupt:
        raise Interrupt(ctx.interrupt)
    if time.monotonic() - ctx.confirmed_at < FRESH:
        return
    with engine_operation(f"the lease check of run {ctx.run_id}"):
        held = store.holds(ctx.run_id, ctx.owner)
    if not held:
        raise Interrupt("lease lost or run cancelled")
    ctx.confirmed_at = time.monotonic()


def complete(ctx: RunContext, cp: Checkpoint, output: str | None, error: str | None = None) -> None:
    """Complete a checkpoint recorded as pending (a recv, sleep or wait that parked)."""
    with engine_operation(f"the end of {cp.kind} {cp.name!r} of run {ctx.run_id}"):
        done = store.complete_checkpoint(cp, output, error)
    if not done:
        raise Interrupt("lease lost: another worker completed this step")
    tracing.operation(ctx.run_id, cp)


def park(
    ctx: RunContext,
    topic: str | None,
    deadline: datetime | None,
    ready: Callable[[], bool] | None = None,
    share: str | None = None,
    checkpoint: Checkpoint | None = None,
) -> None:
    """Record what the run waits for and unwind it, unless ``ready()`` finds that it has
    already arrived (then return). See ``store.park`` for ``share``; ``checkpoint`` (from
    ``pending``), if not saved yet, is recorded with the park."""
    try:
        with engine_operation(f"the wait of run {ctx.run_id}"):
            parked = store.park(ctx.run_id, ctx.owner, topic, deadline, ready, share, checkpoint)
    except store.NotHeld:
        raise Interrupt("lease lost or run cancelled") from None
    if parked:
        _parked(ctx, checkpoint, deadline)


def receive(ctx: RunContext, cp: Checkpoint, deadline: datetime | None) -> str:
    """The body of the message the recv ``cp`` takes now, or park the run until one comes (or
    ``deadline``): see ``store.receive``. A park also leases the thread's next run (``ctx.then``)."""
    try:
        with engine_operation(f"the recv on {cp.name!r} of run {ctx.run_id}"):
            received = store.receive(cp, ctx.owner, deadline, ctx.then)
    except store.NotHeld:
        raise Interrupt("lease lost or run cancelled") from None
    if received.body is None:
        ctx.leased = received.leased
        _parked(ctx, cp, deadline)
    ctx.checkpoints[cp.seq] = cp
    ctx.confirmed_at = time.monotonic()  # the statement found the run still this worker's
    tracing.operation(ctx.run_id, cp)
    return received.body


def _parked(ctx: RunContext, checkpoint: Checkpoint | None, deadline: datetime | None) -> NoReturn:
    if checkpoint is not None:
        ctx.checkpoints[checkpoint.seq] = checkpoint
        tracing.operation(ctx.run_id, checkpoint)  # recorded pending with the park
    ctx.parked_until = deadline
    raise Park()


def read(ctx: RunContext, name: str, compute: Callable[[], Any]) -> Any:
    """A read of engine state inside a workflow, recorded once and replayed after that."""
    seq, cp = next_op(ctx, StepKind.READ, name)
    if cp is not None:
        return outcome(cp)
    with engine_operation(f"the read {name!r} of run {ctx.run_id}"):
        value = compute()
    record(ctx, seq, StepKind.READ, name, output=serialization.dumps(value, f"The value read by {name}"))
    return value


def guarded(what: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` (an operation's writes, inside a workflow) under the engine's fault handling."""
    with engine_operation(what):
        return retry_rolled_back(db(), fn)
