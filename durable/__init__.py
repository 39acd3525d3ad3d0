"""Durable workflows for Django: checkpointed steps, durable notifications, parked waits.

Import the public API from here: ``import durable``.
"""

from typing import TYPE_CHECKING, Any

__all__ = [
    "Queue",
    "StepInfo",
    "WorkflowHandle",
    "call_sync",
    "cancel",
    "close_stream",
    "event_history",
    "fork",
    "get_event",
    "list_steps",
    "list_workflows",
    "now",
    "read_stream",
    "recv",
    "resume",
    "retrieve",
    "run_cancelled",
    "run_finished",
    "run_forked",
    "run_resumed",
    "scheduled",
    "send",
    "set_event",
    "sleep",
    "start",
    "step",
    "step_id",
    "workflow",
    "workflow_id",
    "write_stream",
    # exceptions
    "DurableError",
    "EngineError",
    "NonDeterminismError",
    "NotInWorkflow",
    "QueueDeduplicated",
    "ResultTimeout",
    "SerializationError",
    "WorkflowCancelled",
    "WorkflowConflict",
    "WorkflowFailed",
    "WorkflowImportError",
    "WorkflowNotFound",
]

from .aio import call_sync
from .exceptions import (
    DurableError,
    EngineError,
    NonDeterminismError,
    NotInWorkflow,
    QueueDeduplicated,
    ResultTimeout,
    SerializationError,
    WorkflowCancelled,
    WorkflowConflict,
    WorkflowFailed,
    WorkflowImportError,
    WorkflowNotFound,
)
from .queues import Queue
from .registry import workflow
from .schedules import scheduled
from .signals import run_cancelled, run_finished, run_forked, run_resumed
from .steps import step

# The rest touches models, which need the app registry: load it on first use so that
# ``import durable`` works in settings-free modules (workflow definitions) too.
_LAZY = {
    "WorkflowHandle": "api",
    "cancel": "api",
    "fork": "api",
    "list_workflows": "api",
    "resume": "api",
    "retrieve": "api",
    "start": "api",
    "step_id": "api",
    "workflow_id": "api",
    "now": "clock",
    "sleep": "clock",
    "event_history": "messaging",
    "get_event": "messaging",
    "recv": "messaging",
    "send": "messaging",
    "set_event": "messaging",
    "StepInfo": "operations",
    "list_steps": "operations",
    "close_stream": "streams",
    "read_stream": "streams",
    "write_stream": "streams",
}

if TYPE_CHECKING:
    from .api import WorkflowHandle, cancel, fork, list_workflows, resume, retrieve, start, step_id, workflow_id
    from .clock import now, sleep
    from .messaging import event_history, get_event, recv, send, set_event
    from .operations import StepInfo, list_steps
    from .streams import close_stream, read_stream, write_stream


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # found directly from now on: workflows call these on every step
        return value
    raise AttributeError(f"module 'durable' has no attribute {name!r}")
