"""The state of the run executing on this thread, and the signals that unwind it."""

import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from .exceptions import NotInWorkflow

if TYPE_CHECKING:
    from .models import Checkpoint
    from .records import ClaimedRun, ClaimRequest


class Park(BaseException):
    """The run is parked in the database; unwind its function and free the thread."""


class Interrupt(BaseException):
    """Stop executing this run now: it was cancelled, its lease was lost, or the worker drains."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class RunContext:
    run_id: str
    owner: str
    checkpoints: "dict[int, Checkpoint]"
    forked_from: str = ""
    seq: int = 0
    step_seq: int | None = None
    # Stream values the current attempt of the step at step_seq wrote so far (streams.py).
    stream_items: int = 0
    # Set from another thread (lease renewal, SIGTERM) and honoured at the next durable op.
    interrupt: str | None = None
    # Where the run parked until, so the worker can look again at that moment.
    parked_until: datetime | None = None
    # A step's checkpoint not written yet: the next durable operation, or the run's end, writes it.
    pending: "Checkpoint | None" = None
    # Runs the worker wants leased in the statement that records this run's end (or its park).
    then: "ClaimRequest | None" = None
    # The runs leased with this run's park, for the thread's next turn.
    leased: "tuple[ClaimedRun, ...]" = ()
    # Whether ``checkpoints`` holds the run's whole history (read, or none to read): its end tells
    # ``run_finished``'s receivers which operations it recorded.
    history_read: bool = False
    # When the database last confirmed that this worker holds the run (its claim, or a write
    # that checked the lease), on the monotonic clock.
    confirmed_at: float = field(default_factory=time.monotonic)

    def next_seq(self) -> int:
        if self.interrupt:
            raise Interrupt(self.interrupt)
        seq = self.seq
        self.seq += 1
        return seq

    @property
    def in_step(self) -> bool:
        return self.step_seq is not None


_current: ContextVar[RunContext | None] = ContextVar("durable_run", default=None)


def get() -> RunContext | None:
    """The workflow body running on this thread, or None (outside a workflow or inside a step)."""
    ctx = _current.get()
    if ctx is None or ctx.in_step:
        return None
    return ctx


def require(what: str) -> RunContext:
    ctx = _current.get()
    if ctx is None:
        raise NotInWorkflow(
            f"durable.{what}() was called outside a workflow. Call it from a function decorated "
            "with @durable.workflow that a worker runs (start it with durable.start)."
        )
    if ctx.in_step:
        raise NotInWorkflow(
            f"durable.{what}() was called inside a @durable.step. Steps are plain I/O; call "
            f"durable.{what}() from the workflow body around the step instead."
        )
    return ctx


def raw() -> RunContext | None:
    return _current.get()


def activate(ctx: RunContext | None) -> object:
    return _current.set(ctx)


def deactivate(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
