"""LlamaIndex workflows (``llama-index-workflows``) run durably on this engine.

Declare the workflow class at module level and give it a ``DurableRuntime``, also at module
level. ``workflow.run(...)`` (in ``async`` code) or ``start(WorkflowClass, ...)`` (anywhere)
starts a durable run; inside an ``async def`` ``@durable.workflow``, ``await run(workflow, ...)``
runs it as part of that run. Each step is a durable step, the order in which concurrent steps
finished is journaled, and an idle run parks with no thread: see ``llama_index_loop``.

The run's published event stream is a durable stream (``events(run_id)``, or the handler's
``stream_events()``); events sent from outside (``send_event``, ``handler.ctx.send_event``) are
``durable.send`` messages, so they wake a parked run. ``get_now`` is durable time; the state
store is recorded with each step. ``DurableRuntime(on_input=...)`` answers each
``InputRequiredEvent`` with a ``HumanResponseEvent`` inside the run (the inbox's is
``inbox.llama_index.InboxInput``).

The runtime plugin interface is internal to llama-index-workflows: this module is written for
the version pinned in requirements.txt.
"""

import asyncio
from collections.abc import AsyncGenerator, Iterator
from contextvars import ContextVar
from typing import Any

from asgiref.sync import sync_to_async
from django.utils.module_loading import import_string
from workflows import Workflow
from workflows.context.serializers import BaseSerializer, JsonSerializer
from workflows.context.state_store import InMemoryStateStore, infer_state_type
from workflows.events import Event, StartEvent, StopEvent
from workflows.runtime.types.internal_state import BrokerState
from workflows.runtime.types.plugin import (
    ExternalRunAdapter,
    InternalRunAdapter,
    RegisteredWorkflow,
    Runtime,
)
from workflows.runtime.types.step_function import as_step_worker_functions, create_workflow_run_function
from workflows.runtime.types.ticks import TickAddEvent, WorkflowTick

from . import aio, context
from .llama_index_loop import STREAM, TICK_TOPIC, InputHandler, LoopAdapter
from .registry import workflow as durable_workflow

__all__ = ["TICK_TOPIC", "DurableRuntime", "events", "run", "send_event", "start", "stop_event"]

_RUNTIMES: dict[str, "DurableRuntime"] = {}
_current: ContextVar[LoopAdapter | None] = ContextVar("llama_index_adapter", default=None)


class DurableRuntime(Runtime):
    """A LlamaIndex runtime whose runs are durable workflow runs of this engine.

    ``name`` finds this runtime again in the worker that executes the run: create it at module
    level, in the module of the workflow classes that use it. ``on_input`` answers an
    ``InputRequiredEvent`` when the run is idle (no step running), as a durable operation of
    the run; without it (or when it returns None) the answer is whatever ``send_event`` brings."""

    def __init__(
        self, name: str = "default", *, on_input: InputHandler | None = None, serializer: BaseSerializer | None = None
    ) -> None:
        super().__init__(default_serializer=serializer)
        self.name = name
        self.on_input = on_input
        self._registered: dict[int, RegisteredWorkflow] = {}
        _RUNTIMES[name] = self

    @property
    def is_launched(self) -> bool:
        return True  # nothing to launch: the engine's workers run the workflows

    def register(self, workflow: Workflow) -> RegisteredWorkflow:
        found = self._registered.get(id(workflow))
        if found is None or found.workflow is not workflow:
            found = RegisteredWorkflow(
                workflow, create_workflow_run_function(workflow), as_step_worker_functions(workflow)
            )
            self._registered[id(workflow)] = found
        return found

    def get_registered(self, workflow: Workflow) -> RegisteredWorkflow | None:
        return self.register(workflow)

    def run_workflow(
        self,
        run_id: str,
        workflow: Workflow,
        init_state: BrokerState,
        start_event: StartEvent | None = None,
        serialized_state: dict[str, Any] | None = None,
        serializer: BaseSerializer | None = None,
    ) -> ExternalRunAdapter:
        if serialized_state or start_event is None:
            raise NotImplementedError(
                "A durable LlamaIndex run resumes from its own journal, not from a Context snapshot: "
                "run the workflow without ctx=, and use durable.resume or durable.fork to continue a run."
            )
        text = self.get_serializer(workflow).serialize(start_event)
        args = (_path_of(workflow), self.name, workflow._timeout, text)
        starting = asyncio.ensure_future(sync_to_async(_start_class, thread_sensitive=False)(*args, run_id))
        return DurableRunAdapter(run_id, self.get_serializer(workflow), starting)

    def get_internal_adapter(self, workflow: Workflow) -> InternalRunAdapter:
        adapter = _current.get()
        if adapter is None:
            raise RuntimeError(
                "A workflow on DurableRuntime runs only inside a durable run: start it with workflow.run() "
                "or durable.llama_index.start(), and a durable_worker executes it."
            )
        return adapter

    def get_external_adapter(self, run_id: str) -> ExternalRunAdapter:
        return DurableRunAdapter(run_id, self._default_serializer)


class DurableRunAdapter(ExternalRunAdapter):
    """The outside of a run, from any process: everything goes through the database."""

    def __init__(self, run_id: str, serializer: BaseSerializer, starting: "asyncio.Future[Any] | None" = None) -> None:
        self._run_id = run_id
        self._serializer = serializer
        self._starting = starting

    @property
    def run_id(self) -> str:
        return self._run_id

    async def _started(self) -> None:
        if self._starting is not None:
            await self._starting

    async def send_event(self, tick: WorkflowTick) -> None:
        await self._started()
        await sync_to_async(_send_tick, thread_sensitive=False)(self._run_id, self._serializer.serialize(tick))

    async def stream_published_events(self) -> AsyncGenerator[Event, None]:
        await self._started()
        reading = await sync_to_async(events, thread_sensitive=False)(self._run_id, self._serializer)
        while (event := await sync_to_async(_next_event, thread_sensitive=False)(reading)) is not None:
            yield event

    async def get_result(self) -> StopEvent:
        await self._started()
        text = await sync_to_async(_result, thread_sensitive=False)(self._run_id)
        stop: StopEvent = self._serializer.deserialize(text)
        return stop

    async def cancel(self) -> None:
        from .api import cancel

        await self._started()
        await sync_to_async(cancel, thread_sensitive=False)(self._run_id)


async def run(workflow: Workflow, start_event: StartEvent | None = None, **kwargs: Any) -> StopEvent:
    """Run ``workflow`` (on a ``DurableRuntime``) as part of the current ``async def`` durable
    workflow and return its ``StopEvent``. One LlamaIndex workflow per durable run."""
    ctx = context.require("llama_index.run")
    runtime = workflow.runtime
    while not isinstance(runtime, DurableRuntime) and hasattr(runtime, "_decorated"):
        runtime = runtime._decorated  # Workflow(verbose=True) wraps the runtime it was given
    if not isinstance(runtime, DurableRuntime):
        raise TypeError(
            f"{type(workflow).__name__} runs on {type(runtime).__name__}; create it with "
            "runtime=durable.llama_index.DurableRuntime() to run it durably."
        )
    workflow._validate()
    start = workflow._get_start_event_instance(start_event, **kwargs)
    serializer = runtime.get_serializer(workflow)
    store = InMemoryStateStore(infer_state_type(workflow)())
    adapter = LoopAdapter(ctx.run_id, serializer, store, runtime.on_input)
    token = _current.set(adapter)
    try:
        stop: StopEvent = await workflow.runtime.get_or_register(workflow).workflow_run_fn(
            BrokerState.from_workflow(workflow), start, {}
        )
    finally:
        _current.reset(token)
    await aio.call_sync(_close_stream)
    return stop


@durable_workflow
async def run_class(path: str, runtime: str, timeout: float | None, start_event: str) -> str:
    """The durable run behind ``workflow.run()`` and ``start()``: the StopEvent, serialized."""
    cls = import_string(path)
    found = _RUNTIMES.get(runtime)  # created when the workflow's module was imported
    if found is None:
        raise LookupError(
            f"No DurableRuntime named {runtime!r} after importing {path}: create it at module level "
            "in the module that defines the workflow class, so every worker creates it too."
        )
    workflow = cls(runtime=found, timeout=timeout)
    serializer = found.get_serializer(workflow)
    stop = await run(workflow, serializer.deserialize(start_event))
    return serializer.serialize(stop)


def start(
    workflow_class: type[Workflow],
    start_event: StartEvent | None = None,
    *,
    runtime: str = "default",
    timeout: float | None = None,
    workflow_id: str | None = None,
    **kwargs: Any,
) -> Any:
    """Start a durable run of ``workflow_class`` from plain (not async) code; returns its
    ``durable.WorkflowHandle``, whose result is the serialized ``StopEvent`` (see ``stop_event``).
    ``timeout`` is LlamaIndex's own: None (the default here) for runs that wait for people."""
    found = _RUNTIMES.get(runtime)
    if found is None:
        raise LookupError(f"No DurableRuntime named {runtime!r}: create one at module level beside {workflow_class}.")
    workflow = workflow_class(runtime=found, timeout=timeout)
    event = workflow._get_start_event_instance(start_event, **kwargs)
    text = found.get_serializer(workflow).serialize(event)
    return _start_class(_path_of(workflow), runtime, timeout, text, workflow_id)


def stop_event(text: str, serializer: BaseSerializer | None = None) -> StopEvent:
    """The ``StopEvent`` of a finished run from its handle's result."""
    stop: StopEvent = (serializer or JsonSerializer()).deserialize(text)
    return stop


def send_event(run_id: str, event: Event, serializer: BaseSerializer | None = None) -> bool:
    """Send ``event`` into the run (as ``handler.ctx.send_event`` does), from any process."""
    return _send_tick(run_id, (serializer or JsonSerializer()).serialize(TickAddEvent(event=event)))


def events(run_id: str, serializer: BaseSerializer | None = None) -> Iterator[Event]:
    """The events the run publishes, in order, following the run until it ends."""
    from .streams import read_stream

    active = serializer or JsonSerializer()
    for text in read_stream(run_id, STREAM):
        event: Event = active.deserialize(text)
        yield event


def _next_event(reading: Iterator[Event]) -> Event | None:
    return next(reading, None)


def _path_of(workflow: Workflow) -> str:
    cls = type(workflow)
    if "<locals>" in cls.__qualname__:
        raise TypeError(f"{cls.__qualname__} must be declared at module level: a worker imports it by its path.")
    return f"{cls.__module__}.{cls.__qualname__}"


def _start_class(path: str, runtime: str, timeout: float | None, text: str, run_id: str | None) -> Any:
    from .api import start as start_run

    return start_run(run_class, path, runtime, timeout, text, workflow_id=run_id)


def _send_tick(run_id: str, text: str) -> bool:
    from .messaging import send

    return send(run_id, text, topic=TICK_TOPIC)


def _result(run_id: str) -> str:
    from .api import retrieve

    text: str = retrieve(run_id).result()
    return text


def _close_stream() -> None:
    from .streams import close_stream

    close_stream(STREAM)
