"""Starting runs, waiting for them, and managing them: start, handles, cancel, resume, fork."""

import dataclasses
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import context, notify, pgsql, replay, serialization, signals
from .conf import get_settings
from .exceptions import (
    NotInWorkflow,
    ResultTimeout,
    WorkflowCancelled,
    WorkflowConflict,
    WorkflowFailed,
    WorkflowNotFound,
)
from .messaging import Duration, seconds
from .models import TERMINAL, Checkpoint, Event, Status, StepKind, WorkflowRun, WorkflowRunQuerySet, new_id
from .queues import Queue, queue_name
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
        try:
            return WorkflowRun.objects.using(replay.db()).get(id=self.id)
        except WorkflowRun.DoesNotExist:
            raise WorkflowNotFound(f"There is no workflow run {self.id!r}.") from None

    def status(self) -> str:
        return self.get().status

    def result(self, timeout: Duration | None = None) -> R:
        """The run's return value; raises its exception if it failed. Inside a workflow, waiting
        parks the caller until the child finishes (and ``timeout`` is not allowed)."""
        ctx = context.get()
        if ctx is not None:
            if timeout is not None:
                raise ValueError("Inside a workflow, handle.result() waits durably and takes no timeout.")
            return _child_result(ctx, self.id)  # type: ignore[no-any-return]
        return _outcome(self._wait(None if timeout is None else seconds(timeout)))  # type: ignore[no-any-return]

    def _wait(self, timeout: float | None) -> WorkflowRun:
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.002
        while True:
            run = self.get()
            if run.is_finished:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeout(f"Workflow run {self.id} is still {run.status} after {timeout} s.")
            left = 3600.0 if deadline is None else deadline - time.monotonic()
            time.sleep(max(0.0, min(pause, left)))
            pause = min(pause * 1.5, 0.1)


def _outcome(run: WorkflowRun) -> Any:
    if run.status == Status.SUCCESS:
        return run.result_value
    if run.status == Status.CANCELLED:
        raise WorkflowCancelled(f"Workflow run {run.id} was cancelled.")
    exc = run.exception
    if isinstance(exc, BaseException):
        raise exc
    raise WorkflowFailed(f"Workflow run {run.id} failed: {run.error_message}")


def _child_result(ctx: context.RunContext, child_id: str) -> Any:
    seq, cp = replay.next_op(ctx, StepKind.RESULT, child_id)
    if cp is not None:
        return replay.outcome(cp)
    topic = child_topic(child_id)

    def finished() -> WorkflowRun | None:
        run = WorkflowRun.objects.using(replay.db()).filter(id=child_id).first()
        if run is None:
            raise WorkflowNotFound(f"There is no workflow run {child_id!r} to wait for.")
        return run if run.is_finished else None

    while (run := finished()) is None:
        replay.park(ctx, topic, None, ready=lambda: finished() is not None)
    try:
        value = _outcome(run)
    except Exception as exc:
        replay.record(ctx, seq, StepKind.RESULT, child_id, error=serialization.dumps_exception(exc))
        raise
    replay.record(ctx, seq, StepKind.RESULT, child_id, output=run.output)
    return value


def child_topic(child_id: str) -> str:
    return f"durable.child:{child_id}"


def start(
    fn: Workflow[Any, R] | str,
    *args: Any,
    workflow_id: str | None = None,
    queue: Queue | str | None = None,
    priority: int = 0,
    **kwargs: Any,
) -> WorkflowHandle[R]:
    """Enqueue a run of ``fn`` and return at once. Starting the same ``workflow_id`` again
    returns the existing run. Inside a workflow this starts a child, exactly once."""
    wf = as_workflow(fn)
    wf.check_importable()
    inputs = serialization.dumps_call(list(args), kwargs, f"The arguments of {wf.name}")
    ctx = context.get()
    if ctx is None:
        return WorkflowHandle(_insert(wf, workflow_id or new_id(), inputs, queue, priority, parent=None))
    seq, cp = replay.next_op(ctx, StepKind.START, wf.name)
    if cp is not None:
        return WorkflowHandle(replay.outcome(cp))
    child_id = workflow_id or f"{ctx.run_id}-{seq}"
    with transaction.atomic(using=replay.db()):
        _insert(wf, child_id, inputs, queue, priority, parent=ctx.run_id)
        replay.record(ctx, seq, StepKind.START, wf.name, output=serialization.dumps(child_id))
    return WorkflowHandle(child_id)


def _insert(wf: Workflow[Any, Any], run_id: str, inputs: str, queue: Any, priority: int, parent: str | None) -> str:
    run = pgsql.NewRun(
        id=run_id,
        name=wf.name,
        target=wf.target,
        inputs=inputs,
        queue=queue_name(queue),
        priority=priority,
        parent_id=parent,
        created_at=timezone.now(),
        max_recovery_attempts=wf.max_recovery_attempts or get_settings().MAX_RECOVERY_ATTEMPTS,
    )
    if not _inserted(run):
        existing = WorkflowRun.objects.using(replay.db()).filter(id=run_id).values_list("name", flat=True).first()
        if existing is None:
            raise WorkflowNotFound(f"Workflow run {run_id!r} was neither created nor found; try again.")
        if existing != wf.name:
            raise WorkflowConflict(
                f"Workflow id {run_id!r} is already used by a run of {existing}, so it cannot start "
                f"{wf.name}. Use another workflow_id."
            )
    return run_id


def _inserted(run: "pgsql.NewRun") -> bool:
    """Insert a new run and wake the workers; False if the id exists. On PostgreSQL this is
    one statement (insert, conflict check and NOTIFY), as it is what every start costs."""
    if pgsql.enabled(replay.db()):
        return pgsql.insert_run(replay.db(), run)
    fields = dataclasses.asdict(run)
    fields["ready_at"] = run.created_at
    try:
        with transaction.atomic(using=replay.db()):
            WorkflowRun(**fields).save(using=replay.db(), force_insert=True)
    except IntegrityError:
        return False
    notify.workers_after_commit()
    return True


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
    """Stop a run: a waiting run leaves its wait at once; a running one stops at its next step."""
    now = timezone.now()
    with transaction.atomic(using=replay.db()):
        row = replay.lock_run(workflow_id)
        if row is None:
            raise WorkflowNotFound(f"Cannot cancel workflow run {workflow_id!r}: there is no such run.")
        if row[0] in TERMINAL:
            return
        runs = WorkflowRun.objects.using(replay.db()).filter(id=workflow_id)
        runs.update(
            status=Status.CANCELLED, ready_at=None, wait_topic=None, wait_until=None, lease_owner="", finished_at=now
        )
        _wake_parent(workflow_id, runs.values_list("parent_id", flat=True).first())
        send = signals.run_cancelled.send_robust
        transaction.on_commit(lambda: send(sender=WorkflowRun, run_id=workflow_id), using=replay.db())


def finish_run(
    run_id: str,
    owner: str,
    parent_id: str | None,
    pending: Checkpoint | None = None,
    then: "pgsql.Claim | None" = None,
    **fields: Any,
) -> bool:
    """Record a run's end (called by the worker holding it), with its last step's checkpoint if
    that was deferred, and wake a parent waiting on it. Without a parent, on PostgreSQL, this is
    one statement, which also leases the runs ``then`` asks for (else ``then.runs`` stays None).
    False if the run is no longer this owner's."""
    values = dict(ready_at=None, lease_owner="", wait_topic=None, wait_until=None, finished_at=timezone.now(), **fields)
    if not parent_id and pgsql.enabled(replay.db()):
        return pgsql.finish(replay.db(), run_id, owner, values, pending, then)
    try:
        with transaction.atomic(using=replay.db()):
            if pending is not None and not replay.insert_checkpoint(pending, owner):
                return False
            done = bool(WorkflowRun.objects.using(replay.db()).filter(id=run_id).held_by(owner).update(**values))
            if done:
                _wake_parent(run_id, parent_id)
    except IntegrityError:
        return False  # another worker recorded the last step: the run is no longer ours
    return done


def _wake_parent(run_id: str, parent_id: str | None) -> None:
    """Wake the parent if it is parked waiting for this child (inside the caller's transaction)."""
    if parent_id and replay.lock_run(parent_id) and replay.wake(parent_id, child_topic(run_id)):
        notify.workers_after_commit()


def resume(workflow_id: str) -> WorkflowHandle[Any]:
    """Run a cancelled or failed run again from its last checkpoint."""
    with transaction.atomic(using=replay.db()):
        row = replay.lock_run(workflow_id)
        if row is None:
            raise WorkflowNotFound(f"Cannot resume workflow run {workflow_id!r}: there is no such run.")
        if row[0] == Status.SUCCESS:
            raise ValueError(f"Workflow run {workflow_id} already succeeded; fork it to run it again.")
        if row[0] in (Status.CANCELLED, Status.ERROR, Status.WAITING):
            WorkflowRun.objects.using(replay.db()).filter(id=workflow_id).update(
                status=Status.ENQUEUED,
                ready_at=timezone.now(),
                recovery_attempts=0,
                error=None,
                error_message="",
                traceback="",
                finished_at=None,
                lease_owner="",
                wait_topic=None,
                wait_until=None,
            )
            notify.workers_after_commit()
    return WorkflowHandle(workflow_id)


def fork(workflow_id: str, from_step: int = 0, new_workflow_id: str | None = None) -> WorkflowHandle[Any]:
    """Start a new run of the same workflow and inputs that reuses the checkpoints before
    operation ``from_step`` and executes the rest anew."""
    if from_step < 0:
        raise ValueError(f"from_step must be 0 or more, not {from_step}.")
    original = WorkflowHandle(workflow_id).get()
    new_id_ = new_workflow_id or new_id()
    with transaction.atomic(using=replay.db()):
        WorkflowRun.objects.using(replay.db()).create(
            id=new_id_,
            name=original.name,
            target=original.target,
            inputs=original.inputs,
            queue=original.queue,
            priority=original.priority,
            forked_from=original.id,
            ready_at=timezone.now(),
            max_recovery_attempts=original.max_recovery_attempts,
        )
        kept = Checkpoint.objects.using(replay.db()).filter(
            run_id=original.id, seq__lt=from_step, finished_at__isnull=False
        )
        Checkpoint.objects.using(replay.db()).bulk_create(
            [Checkpoint(**_copy(cp, exclude={"id", "run"}), run_id=new_id_) for cp in kept]
        )
        events = Event.objects.using(replay.db()).filter(run_id=original.id, seq__lt=from_step)
        Event.objects.using(replay.db()).bulk_create(
            [Event(**_copy(e, exclude={"id", "run"}), run_id=new_id_) for e in events]
        )
        notify.workers_after_commit()
    return WorkflowHandle(new_id_)


def _copy(obj: Any, exclude: set[str]) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.name not in exclude}


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
    """Runs matching every filter given, newest first (soonest deadline first with ``waiting_on``)."""
    qs: WorkflowRunQuerySet = WorkflowRun.objects.using(replay.db()).all()
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
