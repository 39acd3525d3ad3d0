"""OpenTelemetry spans for runs and their durable operations, through ``opentelemetry-api`` only.

Until the application sets a tracer provider this does nothing (a check of under a
microsecond per operation); once it has, configure an SDK (Logfire, an OTLP exporter) in
the worker's process and each execution of a run becomes a span, with a span per step (around
its body, so spans the step's own code opens nest under it) and per other operation (recv, send,
sleep, set_event, ...; drawn from the checkpoint's start to its end). A replayed operation did
not execute again and has no span. Attributes: ``durable.run.id``, ``durable.workflow.name``,
``durable.operation.seq``, ``.kind``, ``.name``, ``durable.step.attempts``, ``durable.outcome``.
"""

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Span, StatusCode

if TYPE_CHECKING:
    from .models import Checkpoint
    from .records import ClaimedRun

_tracer = trace.get_tracer("durable")
# What run() and step() return until a tracer provider is set: reusable, and cheaper to enter
# than a span or a generator-based context manager.
_NO_SPAN = nullcontext(trace.INVALID_SPAN)


def _configured() -> bool:
    """Whether the application set a tracer provider. Until it does, skip even the API's no-op
    spans: entering one as the current span costs 20-35 us on this machine, checking this ~1 us."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def run(claimed: "ClaimedRun") -> AbstractContextManager[Span]:
    """The span of one execution of a run (from its claim to its end, park or interruption)."""
    return _run_span(claimed) if _configured() else _NO_SPAN


@contextmanager
def _run_span(claimed: "ClaimedRun") -> Iterator[Span]:
    # An exception that escapes here is the engine's own (a workflow's error is an outcome): recorded.
    with _tracer.start_as_current_span(f"durable.run {claimed.name}") as span:
        if span.is_recording():
            span.set_attributes(
                {
                    "durable.run.id": claimed.id,
                    "durable.workflow.name": claimed.name,
                    "durable.run.recovered": claimed.recovered,
                    "durable.run.recovery_attempts": claimed.recovery_attempts,
                }
            )
            if claimed.received_seq is not None and claimed.history is not None:
                operation(claimed.id, claimed.history[claimed.received_seq])  # a recv the claim completed
        yield span


def run_ended(span: Span, kind: str, fault: BaseException | None = None) -> None:
    """What became of the execution: succeeded, failed, parked, interrupted, released or fault."""
    if span is trace.INVALID_SPAN:
        return
    span.set_attribute("durable.outcome", kind)
    if fault is not None:
        _error(span, fault)


def failed(exc: BaseException) -> None:
    """The run (the current span) failed with ``exc``."""
    _error(trace.get_current_span(), exc)


def step(run_id: str, name: str, seq: int) -> AbstractContextManager[Span]:
    """The span around a step's body (every attempt), current while the body runs."""
    return _step_span(run_id, name, seq) if _configured() else _NO_SPAN


@contextmanager
def _step_span(run_id: str, name: str, seq: int) -> Iterator[Span]:
    with _tracer.start_as_current_span(
        f"durable.step {name}", record_exception=False, set_status_on_exception=False
    ) as span:
        if span.is_recording():
            span.set_attributes(_operation(run_id, seq, "step", name))
        yield span


def step_ended(span: Span, error: BaseException | None, attempts: int) -> None:
    if span is trace.INVALID_SPAN or not span.is_recording():
        return
    span.set_attribute("durable.step.attempts", attempts)
    span.set_attribute("durable.outcome", "failed" if error is not None else "succeeded")
    if error is not None:
        _error(span, error)


def attempt_failed(exc: BaseException, attempt: int) -> None:
    """A step's attempt raised ``exc`` (retried, or the last): an event on the step's span."""
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exc, attributes={"durable.step.attempt": attempt})


def operation(run_id: str, cp: "Checkpoint") -> None:
    """A span for an operation other than a step, from its checkpoint: started when it started,
    ended when it finished (now, for a wait that parks: its outcome is then ``pending``)."""
    if not _configured():
        return
    span = _tracer.start_span(f"durable.{cp.kind}", start_time=_ns(cp.started_at))
    if not span.is_recording():
        return
    span.set_attributes(_operation(run_id, cp.seq, cp.kind, cp.name))
    outcome = "pending" if cp.finished_at is None else "failed" if cp.error is not None else "succeeded"
    span.set_attribute("durable.outcome", outcome)
    if cp.error is not None:
        span.set_status(StatusCode.ERROR, _readable(cp.error))
    span.end(end_time=_ns(cp.finished_at) if cp.finished_at is not None else None)


def _operation(run_id: str, seq: int, kind: str, name: str) -> dict[str, str | int]:
    return {"durable.run.id": run_id, "durable.operation.seq": seq, "durable.operation.kind": kind,
            "durable.operation.name": name}  # fmt: skip


def _error(span: Span, exc: BaseException) -> None:
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")


def _readable(error: str) -> str:
    from .history import readable  # the stored exception as "Name: message", never decoded

    return readable(error)


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)
