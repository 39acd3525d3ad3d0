"""``@durable.step``: a unit of I/O whose outcome is checkpointed once."""

import functools
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, overload

from django.utils import timezone

from . import aio, context, serialization, tracing

P = ParamSpec("P")
R = TypeVar("R")


@overload
def step(fn: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def step(
    *, retries: int = 0, backoff: float = 2.0, interval: float = 1.0, name: str | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    retries: int = 0,
    backoff: float = 2.0,
    interval: float = 1.0,
    name: str | None = None,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Checkpoint the return value (or final exception) of ``fn`` when called in a workflow.

    A failing call is retried ``retries`` times, waiting ``interval * backoff**n`` seconds.
    Outside a workflow, or inside another step, it is a plain call.
    """
    if retries < 0 or interval < 0 or backoff < 1:
        raise ValueError("@durable.step needs retries >= 0, interval >= 0 and backoff >= 1.")

    def decorate(f: Callable[P, R]) -> Callable[P, R]:
        step_name = name or f.__qualname__
        if aio.is_async(f):
            return aio.step(f, step_name, retries, backoff, interval)  # type: ignore[arg-type, return-value]

        @functools.wraps(f)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            ctx = context.get()
            if ctx is None:
                return f(*args, **kwargs)
            from . import replay  # models load with the app registry, after this module

            confirmed = replay.flush(ctx)  # the previous step's checkpoint also says the run is still ours
            seq, cp = replay.next_op(ctx, "step", step_name)
            if cp is not None:
                return replay.outcome(cp)  # type: ignore[no-any-return]
            if not confirmed:
                replay.ensure_held(ctx)  # a cancel takes effect before the next step's body
            started = timezone.now()
            ctx.step_seq = seq
            try:
                with tracing.step(ctx.run_id, step_name, seq) as span:
                    value, error, attempts = _call_with_retries(ctx, f, args, kwargs, retries, backoff, interval)
                    tracing.step_ended(span, error, attempts)
            finally:
                ctx.step_seq = None
            if error is not None:
                replay.record(
                    ctx,
                    seq,
                    "step",
                    step_name,
                    error=serialization.dumps_exception(error),
                    started_at=started,
                    attempts=attempts,
                )
                raise error
            output = serialization.dumps(value, f"The return value of step {step_name}")
            replay.record(ctx, seq, "step", step_name, output=output, started_at=started, attempts=attempts, defer=True)
            return value  # type: ignore[no-any-return]

        return wrapper

    return decorate(fn) if fn is not None else decorate


def _call_with_retries(
    ctx: context.RunContext,
    f: Callable[..., Any],
    args: Any,
    kwargs: Any,
    retries: int,
    backoff: float,
    interval: float,
) -> tuple[Any, Exception | None, int]:
    attempt = 0
    while True:
        attempt += 1
        ctx.stream_items = 0  # each attempt writes its stream values at the same places (streams.py)
        try:
            return f(*args, **kwargs), None, attempt
        except Exception as exc:
            tracing.attempt_failed(exc, attempt)
            if attempt > retries:
                return None, exc, attempt
            time.sleep(interval * backoff ** (attempt - 1))
