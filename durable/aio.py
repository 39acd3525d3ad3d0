"""``async def`` workflows and steps.

An async workflow's coroutine runs on an event loop in a thread of its own, started by
asgiref's ``async_to_sync`` from the worker thread that claimed the run. That worker thread
waits meanwhile and serves every ``sync_to_async(thread_sensitive=True)`` call the coroutine
makes, so the engine's database work (checkpoints, parks, the lease check) stays on the thread
and connection that own the run, where Django allows it, never on the loop's thread, where
Django refuses it. ``asyncio.run`` on the worker thread itself could not work that way: the
worker thread would then run the loop and Django would refuse the ORM on it.
"""

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast

from asgiref.sync import AsyncSingleThreadContext, AsyncToSync, async_to_sync, sync_to_async
from django.core.exceptions import SynchronousOnlyOperation
from django.utils import timezone

from . import context, serialization, tracing
from .context import Interrupt, Park
from .exceptions import NonDeterminismError
from .faults import DatabaseFault

P = ParamSpec("P")
R = TypeVar("R")

# Raised through the workflow body on purpose: they must reach the worker as themselves.
_UNWINDING = (Park, Interrupt, NonDeterminismError, DatabaseFault)


def blocking(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, R]:
    """A plain function that runs the coroutine function ``fn`` to its end (for the worker)."""

    async def body(*args: P.args, **kwargs: P.kwargs) -> R:
        # Code inside (a plain tool calling run_sync in its own thread) must not be sent to this
        # loop's one thread, which is busy running this coroutine: it would wait for ever.
        AsyncToSync.async_single_thread_context.set(None)  # type: ignore[arg-type]
        return await fn(*args, **kwargs)

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            # The loop's thread ends with the call: a parked run keeps no thread (asgiref would
            # otherwise leave its executor to the garbage collector, which a traceback can delay).
            with AsyncSingleThreadContext():  # type: ignore[no-untyped-call]
                return async_to_sync(body)(*args, **kwargs)
        except BaseExceptionGroup as group:
            raise _unwrap(group) from None
        except SynchronousOnlyOperation as exc:
            raise SynchronousOnlyOperation(
                f"{exc} In an async def workflow, await durable functions that are not async "
                "(durable.recv, durable.send, durable.start, a plain @durable.step, inbox.ask) through "
                "durable.call_sync(fn, ...), or make the step async def."
            ) from exc

    return run


def _unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """A park or an interrupt inside a task group comes out wrapped: the worker needs it bare."""
    for exc in group.exceptions:
        inner = _unwrap(exc) if isinstance(exc, BaseExceptionGroup) else exc
        if isinstance(inner, _UNWINDING):
            return inner
    return group


async def call_sync(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call a plain durable function (``durable.recv``, ``durable.start``, a plain step,
    ``inbox.ask``) from ``async def`` workflow code, on the run's worker thread."""
    return await sync_to_async(fn, thread_sensitive=True)(*args, **kwargs)


def step(
    f: Callable[P, Awaitable[R]], step_name: str, retries: int, backoff: float, interval: float
) -> Callable[P, Coroutine[Any, Any, R]]:
    """The ``@durable.step`` wrapper for an ``async def`` function."""

    @functools.wraps(f)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if context.get() is None:
            return await f(*args, **kwargs)
        return await run_step(step_name, functools.partial(f, *args, **kwargs), retries, backoff, interval)

    return wrapper


async def run_step(
    name: str,
    body: Callable[[], Awaitable[R]],
    retries: int = 0,
    backoff: float = 2.0,
    interval: float = 1.0,
    give_up: tuple[type[BaseException], ...] = (),
) -> R:
    """Run ``body`` as the workflow's next step: checkpointed once, replayed after that.

    Exceptions of a ``give_up`` type are not retried (they would fail the same way again)."""
    from . import replay  # models load with the app registry, after this module

    ctx = context.require("step")
    # The previous step's checkpoint is the only database work next_op may do: one hop, if any.
    # Written, it also confirms that the run is still ours; else a check does, before the body.
    confirmed = ctx.pending is not None and await call_sync(replay.flush, ctx)
    seq, cp = replay.next_op(ctx, "step", name)
    if cp is not None:
        return replay.outcome(cp)  # type: ignore[no-any-return]
    if not confirmed:
        await call_sync(replay.ensure_held, ctx)  # a cancel takes effect before the step's body
    started = timezone.now()
    ctx.step_seq = seq
    try:
        with tracing.step(ctx.run_id, name, seq) as span:
            value, error, attempts = await _attempts(ctx, body, retries, backoff, interval, give_up)
            tracing.step_ended(span, error, attempts)
    finally:
        ctx.step_seq = None
    if error is not None:
        dumped = serialization.dumps_exception(error)
        await call_sync(replay.record, ctx, seq, "step", name, error=dumped, started_at=started, attempts=attempts)
        raise error
    output = serialization.dumps(value, f"The return value of step {name}")
    # Deferred: kept in memory only, written by the next durable operation (as for plain steps).
    replay.record(ctx, seq, "step", name, output=output, started_at=started, attempts=attempts, defer=True)
    return cast(R, value)


async def _attempts(
    ctx: context.RunContext,
    body: Callable[[], Awaitable[R]],
    retries: int,
    backoff: float,
    interval: float,
    give_up: tuple[type[BaseException], ...],
) -> tuple[R | None, Exception | None, int]:
    attempt = 0
    while True:
        attempt += 1
        ctx.stream_items = 0  # each attempt writes its stream values at the same places (streams.py)
        try:
            return await body(), None, attempt
        except Exception as exc:
            tracing.attempt_failed(exc, attempt)
            if attempt > retries or isinstance(exc, give_up):
                return None, exc, attempt
            await asyncio.sleep(interval * backoff ** (attempt - 1))


def is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn)
