"""The journal of a LlamaIndex workflow's control loop, kept as the operations of one durable run.

LlamaIndex's control loop is a pure reducer fed by three nondeterministic inputs: which running
task finishes next (a step, or the pull of the run's mailbox), what each step returned, and the
time. This adapter records each input as the run's next operation and, on replay, feeds the
recorded one back, so the loop makes the same decisions again:

- a step that finishes is recorded as a step named ``llama_index:<step>``: its result (LlamaIndex's
  own tick, in its JSON form), the events it wrote to the stream, the state store after it, and
  the time. On replay its body does not run: the recorded result is returned in its place. Steps
  that were running when the worker died have no record, so they run again (at least once, as
  any step);
- an event a step sends (``ctx.send_event``) is recorded as ``llama_index:tick`` when the loop
  takes it; an event from outside is a ``durable.send`` message on ``TICK_TOPIC``, received with
  ``durable.recv``;
- ``get_now`` is the time of the latest record, so it replays too.

The run parks only when it is idle (no step running, nothing to take): then ``durable.recv``
waits with no thread and no memory until a message or the next timer. While steps run, the
loop waits for them, not for the mailbox: a message sent meanwhile is taken when they are done.
"""

import asyncio
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, NoReturn

from workflows.context.serializers import BaseSerializer
from workflows.context.state_store import InMemoryStateStore, StateStore
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent
from workflows.runtime.types.named_task import (
    NamedTask,
    PendingStart,
    PendingWorker,
    PullTask,
    WorkerTask,
    find_by_key,
    pick_highest_priority,
)
from workflows.runtime.types.plugin import (
    InternalRunAdapter,
    WaitForNextTaskResult,
    WaitResult,
    WaitResultTick,
)
from workflows.runtime.types.ticks import TickAddEvent, WorkflowTick, WorkflowTickAdapter

from . import aio, context, replay, serialization
from .exceptions import NonDeterminismError
from .models import StepKind

TICK_TOPIC = "llama_index.tick"
STREAM = "llama_index.events"
PREFIX = "llama_index:"
TICK = PREFIX + "tick"
TIMEOUT = PREFIX + "timeout"

# What the inbox (or any handler) answers for an InputRequiredEvent, inside the run's body.
InputHandler = Callable[[InputRequiredEvent], HumanResponseEvent | None]

# The events the running step wrote to the stream: published with the step's record, once.
_written: ContextVar[list[Event] | None] = ContextVar("llama_index_written", default=None)


class LoopAdapter(InternalRunAdapter):
    def __init__(
        self, run_id: str, serializer: BaseSerializer, store: InMemoryStateStore[Any], on_input: InputHandler | None
    ) -> None:
        self._run_id = run_id
        self._serializer = serializer
        self._store = store
        self._on_input = on_input
        self._queue: asyncio.Queue[WorkflowTick] | None = None
        self._now: float | None = None
        self._state = self._dump_state()
        self._asks: list[InputRequiredEvent] = []
        self._gates: dict[str, asyncio.Future[WorkflowTick | None]] = {}
        self._written: dict[str, list[Event]] = {}
        self._live = False

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def mailbox(self) -> asyncio.Queue[WorkflowTick]:
        if self._queue is None:  # made on the loop that uses it
            self._queue = asyncio.Queue()
        return self._queue

    def get_state_store(self, namespace: tuple[str, ...] = ()) -> StateStore[Any] | None:
        return None if namespace else self._store

    def is_replaying(self) -> bool:
        ctx = context.raw()
        return ctx is not None and ctx.seq <= max(ctx.checkpoints, default=-1)

    async def get_now(self) -> float:
        if self._now is None:
            self._now = (await aio.call_sync(_durable_now)).timestamp()
        return self._now

    async def write_to_event_stream(self, event: Event) -> None:
        written = _written.get()
        if written is not None:  # inside a step: published with its record
            written.append(event)
        else:
            await self._publish([event])

    async def send_event(self, tick: WorkflowTick) -> None:
        self.mailbox.put_nowait(tick)

    async def wait_receive(self, timeout_seconds: float | None = None) -> WaitResult:
        return WaitResultTick(tick=await self.mailbox.get())

    async def wait_for_next_task(
        self, running: list[NamedTask], pending: list[PendingStart], timeout: float | None = None
    ) -> WaitForNextTaskResult:
        started = [p.start(asyncio.create_task(self._task(p, self._gate(p)))) for p in pending]
        named = running + started
        cp = _ctx().checkpoints.get(_ctx().seq)
        if cp is not None and cp.kind == StepKind.STEP and cp.name.startswith(PREFIX):
            return WaitForNextTaskResult(await self._replayed(cp, named), started)
        if not any(isinstance(t, WorkerTask) for t in named) and self.mailbox.empty():
            # Idle: its operations (a recv, an inbox request) replay themselves.
            return WaitForNextTaskResult(await self._idle(named, timeout), started)
        if cp is not None:
            _diverged(cp, "a finished step, a sent event or a timer")
        self._go_live()
        return WaitForNextTaskResult(await self._next(named, timeout), started)

    def _gate(self, pending: PendingStart) -> "asyncio.Future[WorkflowTick | None] | None":
        """What a step's task waits for before its body: its recorded result (replay) or None (live)."""
        if not isinstance(pending, PendingWorker):
            return None
        gate = self._gates[pending.key] = asyncio.get_running_loop().create_future()
        if self._live:
            gate.set_result(None)
        return gate

    async def _task(self, pending: PendingStart, gate: "asyncio.Future[WorkflowTick | None] | None") -> Any:
        if gate is None:
            return await pending.coro
        recorded = await gate
        if recorded is not None:
            pending.coro.close()  # replayed: the step's body does not run again
            return recorded
        written = self._written[pending.key] = []
        _written.set(written)
        return await pending.coro

    def _go_live(self) -> None:
        self._live = True
        for gate in self._gates.values():
            if not gate.done():
                gate.set_result(None)

    async def _idle(self, named: list[NamedTask], timeout: float | None) -> Any:
        """Nothing runs: ask a person, or park until a message or the next timer."""
        pull = next(t for t in named if isinstance(t, PullTask))
        tick = await self._ask() if self._asks else None
        if tick is None:
            message = await aio.call_sync(_recv, timeout)
            self._now = (await aio.call_sync(_durable_now)).timestamp()
            if message is None:
                return None
            tick = self._load_tick(message)
        self.mailbox.put_nowait(tick)
        await asyncio.wait([pull.task])
        return pull.task

    async def _ask(self) -> WorkflowTick | None:
        asked = self._asks.pop(0)
        if self._on_input is None:
            return None
        answer = await aio.call_sync(self._on_input, asked)
        return None if answer is None else TickAddEvent(event=answer)

    async def _next(self, named: list[NamedTask], timeout: float | None) -> Any:
        """Live: wait for whichever task finishes first, and record which, with what."""
        done, _ = await asyncio.wait([t.task for t in named], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        task = pick_highest_priority(named, done)
        self._now = time.time()
        finished = next((t for t in named if t.task is task), None)
        if finished is None:
            await self._record(TIMEOUT, {"at": self._now})
        elif isinstance(finished, PullTask):
            await self._record(TICK, {"tick": self._serializer.serialize(finished.task.result()), "at": self._now})
        else:
            await self._finished(finished)
        return task

    async def _finished(self, worker: WorkerTask) -> None:
        tick = worker.task.result()
        events = self._written.pop(worker.key, [])
        state = self._dump_state()
        value = {
            "key": worker.key,
            "tick": self._serializer.serialize(tick),
            "events": [self._serializer.serialize(e) for e in events],
            "state": state if state != self._state else None,
            "at": self._now,
        }
        self._state = state
        await self._record(PREFIX + str(worker.step_id), value)
        await self._publish(events)

    async def _replayed(self, cp: Any, named: list[NamedTask]) -> Any:
        """Replay: the journal says what finished next; give the loop that, without running it."""
        value = replay.outcome(cp)
        await aio.call_sync(replay.next_op, _ctx(), StepKind.STEP, cp.name)  # consumed
        self._now = value["at"]
        if cp.name == TIMEOUT:
            return None
        if cp.name == TICK:
            pull = next(t for t in named if isinstance(t, PullTask))
            self.mailbox.put_nowait(self._load_tick(value["tick"]))
            await asyncio.wait([pull.task])
            return pull.task
        task = find_by_key(named, value["key"])
        if task is None:
            _diverged(cp, f"step {value['key']!r}, which is not running now")
        self._gates[value["key"]].set_result(self._load_tick(value["tick"]))
        await asyncio.wait([task])
        if value["state"] is not None:
            self._state = value["state"]
            self._store = InMemoryStateStore.from_dict(serialization.loads(value["state"]), self._serializer)
        await self._publish([self._serializer.deserialize(e) for e in value["events"]])
        return task

    async def _record(self, name: str, value: dict[str, Any]) -> None:
        await aio.call_sync(_record, name, value)

    async def _publish(self, events: list[Event]) -> None:
        for event in events:
            await aio.call_sync(_write, self._serializer.serialize(event))
            if isinstance(event, InputRequiredEvent):
                self._asks.append(event)

    def _dump_state(self) -> str:
        return serialization.dumps(self._store.to_dict(self._serializer), "The workflow's state store")

    def _load_tick(self, text: str) -> WorkflowTick:
        with self._serializer.validation_context():
            tick: WorkflowTick = WorkflowTickAdapter.validate_python(self._serializer.deserialize(text))
        return tick


def _ctx() -> context.RunContext:
    return context.require("llama_index")


def _diverged(cp: Any, expected: str) -> NoReturn:
    raise NonDeterminismError(
        f"The LlamaIndex workflow of run {_ctx().run_id} is not deterministic at operation #{cp.seq}: "
        f"the history recorded {cp.kind} {cp.name!r} where the control loop expected {expected}. The workflow "
        "changed incompatibly since this run started; deploy the old code, fork the run, or cancel it."
    )


def _record(name: str, value: dict[str, Any]) -> None:
    ctx = _ctx()
    seq, _ = replay.next_op(ctx, StepKind.STEP, name)
    replay.record(ctx, seq, StepKind.STEP, name, output=serialization.dumps(value, f"The record of {name}"))


def _recv(timeout: float | None) -> Any:
    from .messaging import recv

    return recv(TICK_TOPIC, timeout=timeout)


def _write(text: str) -> None:
    from .streams import write_stream

    write_stream(STREAM, text)


def _durable_now() -> Any:
    from .clock import now

    return now()
