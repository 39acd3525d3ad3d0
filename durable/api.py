"""The public face of the engine: start runs, hold handles to them, manage them, list them.

Inside a workflow each of these is a durable operation: a start, fork, cancel or resume happens
once and a read (a handle's status, ``list_workflows``) returns on replay what it returned then.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from django.db import transaction
from django.utils import timezone

from . import context, replay, serialization, store, waiting
from .conf import get_settings
from .exceptions import NotInWorkflow, WorkflowConflict, WorkflowNotFound
from .messaging import Duration, seconds
from .models import StepKind, WorkflowRun, WorkflowRunQuerySet, new_id
from .queues import Queue, queue_name
from .records import NewRun
from .registry import Workflow, as_workflow

R = TypeVar("R")


class WorkflowHandle(Generic[R]):
    """A reference to a run: its id, its status, and a way to wait for its result."""

    def __init__(self, workflow_id: str) -> None:
        self.id = workflow_id

    def __repr__(self) -> str:
        return f"<WorkflowHandle {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WorkflowHandle) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def get(self) -> WorkflowRun:
        return waiting.get(self.id)

    def status(self) -> str:
        """The run's status; inside a workflow, the status read the first time (recorded)."""
        ctx = context.get()
        if ctx is None:
            return self.get().status
        return str(replay.read(ctx, f"status:{replay.ref(ctx, self.id)}", lambda: self.get().status))

    def result(self, timeout: Duration | None = None) -> R:
        """The run's return value; raises its exception if it failed. Inside a workflow, waiting
        parks the caller until the run ends (and ``timeout`` is not allowed)."""
        ctx = context.get()
        if ctx is not None:
            if timeout is not None:
                raise ValueError("Inside a workflow, handle.result() waits durably and takes no timeout.")
            return waiting.result(ctx, self.id)  # type: ignore[no-any-return]
        return waiting.outcome_of(waiting.poll(self.id, None if timeout is None else seconds(timeout)))  # type: ignore[no-any-return]


def start(
    fn: Workflow[Any, R] | str,
    *args: Any,
    workflow_id: str | None = None,
    queue: Queue | str | None = None,
    priority: int = 0,
    workflow_timeout: Duration | None = None,
    deduplication_id: str | None = None,
    **kwargs: Any,
) -> WorkflowHandle[R]:
    """Enqueue a run of ``fn`` and return at once. Starting the same ``workflow_id`` again
    returns the existing run. Inside a workflow this starts a child, exactly once.
    ``timeout`` or ``workflow_timeout`` (else the workflow's ``timeout``): the run and its children
    are cancelled once it has passed, counted from now. ``timeout=`` means that only for a
    workflow without a ``timeout`` parameter of its own (agents' ``recv`` timeouts often are
    one): such a workflow gets it as its argument, and ``workflow_timeout=`` is its deadline.
    ``deduplication_id``: refused with QueueDeduplicated while the queue has an unfinished run
    with the same one."""
    wf = as_workflow(fn)
    wf.check_importable()
    if "timeout" in kwargs and not wf.takes("timeout"):
        workflow_timeout = _one_timeout(kwargs.pop("timeout"), workflow_timeout)
    inputs = serialization.dumps_call(list(args), kwargs, f"The arguments of {wf.name}")
    timeout = workflow_timeout if workflow_timeout is not None else wf.timeout
    options = _Options(queue, priority, timeout, deduplication_id)
    ctx = context.get()
    if ctx is None:
        return WorkflowHandle(_insert(wf, workflow_id or new_id(), inputs, options, parent=None))
    seq, cp = replay.next_op(ctx, StepKind.START, wf.name)
    if cp is not None:
        return WorkflowHandle(replay.outcome(cp))
    child_id = workflow_id or f"{ctx.run_id}-{seq}"

    def start_child() -> None:
        with transaction.atomic(using=store.db()):
            _insert(wf, child_id, inputs, options, parent=ctx.run_id)
            replay.record(ctx, seq, StepKind.START, wf.name, output=serialization.dumps(child_id))

    replay.guarded(f"the start of {wf.name} by run {ctx.run_id}", start_child)
    return WorkflowHandle(child_id)


def _one_timeout(timeout: Any, workflow_timeout: Duration | None) -> Duration:
    if workflow_timeout is not None:
        raise TypeError("Give the run's deadline once: timeout= or workflow_timeout=, not both.")
    return timeout  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Options:
    queue: Queue | str | None
    priority: int
    timeout: Duration | None
    deduplication_id: str | None


def _insert(wf: Workflow[Any, Any], run_id: str, inputs: str, options: _Options, parent: str | None) -> str:
    now = timezone.now()
    run = NewRun(
        id=run_id,
        name=wf.name,
        target=wf.target,
        inputs=inputs,
        queue=queue_name(options.queue),
        priority=options.priority,
        parent_id=parent,
        created_at=now,
        max_recovery_attempts=wf.max_recovery_attempts or get_settings().MAX_RECOVERY_ATTEMPTS,
        timeout_at=None if options.timeout is None else now + timedelta(seconds=seconds(options.timeout)),
        deduplication_id=options.deduplication_id,
    )
    if not store.insert_run(run):
        existing = store.name_of(run_id)
        if existing is None:
            raise WorkflowNotFound(f"Workflow run {run_id!r} was neither created nor found; try again.")
        if existing != wf.name:
            raise WorkflowConflict(
                f"Workflow id {run_id!r} is already used by a run of {existing}, so it cannot start "
                f"{wf.name}. Use another workflow_id."
            )
    return run_id


def retrieve(workflow_id: str) -> WorkflowHandle[Any]:
    """A handle to an existing run."""
    handle: WorkflowHandle[Any] = WorkflowHandle(workflow_id)
    handle.get()
    return handle


def workflow_id() -> str:
    """The id of the run executing this code (in the workflow body or one of its steps)."""
    ctx = context.raw()
    if ctx is None:
        raise NotInWorkflow("durable.workflow_id() was called outside a workflow run.")
    return ctx.run_id


def step_id() -> str:
    """A stable id for the step executing now: the same on every retry and replay, so it can
    be passed to an external API as an idempotency key."""
    ctx = context.raw()
    if ctx is None or ctx.step_seq is None:
        raise NotInWorkflow("durable.step_id() is only available inside a @durable.step running in a workflow.")
    return f"{ctx.run_id}:{ctx.step_seq}"


def cancel(workflow_id: str) -> None:
    """Stop a run and its unfinished children: a waiting run at once, a running one before its
    next step. A failed run is marked cancelled (its error is kept); a run that succeeded stays."""
    _managed(StepKind.CANCEL, workflow_id, lambda: _cancel(workflow_id))


def _cancel(workflow_id: str) -> None:
    if store.cancel(workflow_id) is None:
        raise WorkflowNotFound(f"Cannot cancel workflow run {workflow_id!r}: there is no such run.")


def resume(workflow_id: str) -> WorkflowHandle[Any]:
    """Run a cancelled or failed run again from its last checkpoint."""
    _managed(StepKind.RESUME, workflow_id, lambda: _resume(workflow_id))
    return WorkflowHandle(workflow_id)


def _resume(workflow_id: str) -> None:
    before = store.resume(workflow_id)
    if before is None:
        raise WorkflowNotFound(f"Cannot resume workflow run {workflow_id!r}: there is no such run.")
    if before == "SUCCESS":
        raise ValueError(f"Workflow run {workflow_id} already succeeded; fork it to run it again.")


def fork(workflow_id: str, from_step: int = 0, new_workflow_id: str | None = None) -> WorkflowHandle[Any]:
    """Start a new run of the same workflow and inputs that reuses the checkpoints before
    operation ``from_step`` and executes the rest anew. Inside a workflow the fork happens once."""
    if from_step < 0:
        raise ValueError(f"from_step must be 0 or more, not {from_step}.")
    ctx = context.get()
    if ctx is None:
        new = new_workflow_id or new_id()
        store.fork(waiting.get(workflow_id), new, from_step)
        return WorkflowHandle(new)
    seq, cp = replay.next_op(ctx, StepKind.FORK, workflow_id)
    if cp is not None:
        return WorkflowHandle(replay.outcome(cp))
    new = new_workflow_id or f"{ctx.run_id}-fork-{seq}"

    def fork_once() -> None:
        with transaction.atomic(using=store.db()):
            store.fork(waiting.get(workflow_id), new, from_step)
            replay.record(ctx, seq, StepKind.FORK, workflow_id, output=serialization.dumps(new))

    replay.guarded(f"the fork of {workflow_id} by run {ctx.run_id}", fork_once)
    return WorkflowHandle(new)


def _managed(kind: str, workflow_id: str, act: Any) -> None:
    """Do ``act`` once: outside a workflow at once, inside one as a recorded operation."""
    ctx = context.get()
    if ctx is None:
        act()
        return
    seq, cp = replay.next_op(ctx, kind, replay.ref(ctx, workflow_id))
    if cp is not None:
        replay.outcome(cp)
        return

    def once() -> None:
        with transaction.atomic(using=store.db()):
            try:
                act()
            except (WorkflowNotFound, ValueError) as exc:
                error = serialization.dumps_exception(exc)
                replay.record(ctx, seq, kind, replay.ref(ctx, workflow_id), error=error)
                raise
            replay.record(ctx, seq, kind, replay.ref(ctx, workflow_id), output=serialization.dumps(None))

    replay.guarded(f"the {kind} of {workflow_id} by run {ctx.run_id}", once)


def list_workflows(
    *,
    status: str | Iterable[str] | None = None,
    name: str | None = None,
    waiting_on: str | None = None,
    parent: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: int | None = None,
) -> WorkflowRunQuerySet:
    """Runs matching every filter given, newest first (soonest deadline first with ``waiting_on``).
    Inside a workflow: a list of the runs as read the first time (recorded), not a queryset."""
    qs = _runs_matching(status, name, waiting_on, parent, created_after, created_before, limit)
    ctx = context.get()
    if ctx is None:
        return qs
    rows = replay.read(ctx, "list_workflows", lambda: [_fields(r) for r in qs])
    return [_unsaved(WorkflowRun, row) for row in rows]  # type: ignore[return-value]


def _fields(obj: Any) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _unsaved(model: Any, fields: dict[str, Any]) -> Any:
    obj = model(**fields)
    obj._state.adding = False
    return obj


def _runs_matching(
    status: str | Iterable[str] | None,
    name: str | None,
    waiting_on: str | None,
    parent: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    limit: int | None,
) -> WorkflowRunQuerySet:
    qs: WorkflowRunQuerySet = WorkflowRun.objects.using(store.db()).all()
    if waiting_on is not None:
        qs = qs.waiting(waiting_on)
    if status is not None:
        qs = qs.filter(status__in=[status] if isinstance(status, str) else list(status))
    if name is not None:
        qs = qs.named(name)
    if parent is not None:
        qs = qs.filter(parent_id=parent)
    if created_after is not None:
        qs = qs.filter(created_at__gte=created_after)
    if created_before is not None:
        qs = qs.filter(created_at__lt=created_before)
    return qs[:limit] if limit is not None else qs
