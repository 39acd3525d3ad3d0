"""``durable.list_steps``: a run's operations as values, what the admin's history shows."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import context, replay, serialization, store
from .exceptions import WorkflowNotFound
from .faults import retry_rolled_back
from .models import Checkpoint, WorkflowRun

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
_FIELDS = ("seq", "kind", "name", "output", "error", "attempts", "started_at", "finished_at")


@dataclass(frozen=True)
class StepInfo:
    """One durable operation of a run. ``kind`` is a ``StepKind`` value (step, recv, send, sleep,
    set_event, ...); ``status`` is pending (a recv, sleep or wait still in progress), succeeded
    or failed; ``output`` is the decoded result and ``error`` the decoded exception (or None)."""

    seq: int
    kind: str
    name: str
    status: str
    output: Any
    error: BaseException | None
    attempts: int
    started_at: datetime
    finished_at: datetime | None


def list_steps(run_id: str) -> list[StepInfo]:
    """Every recorded operation of the run, by sequence number. Inside a workflow the rows are
    read once and recorded, so a replay sees the same list."""
    ctx = context.get()
    if ctx is None:
        rows = retry_rolled_back(store.db(), lambda: _rows(run_id))
    else:
        rows = replay.read(ctx, f"list_steps:{replay.ref(ctx, run_id)}", lambda: _rows(run_id))
    return [_info(row) for row in rows]


def _rows(run_id: str) -> list[dict[str, Any]]:
    rows = list(Checkpoint.objects.using(store.db()).filter(run_id=run_id).order_by("seq").values(*_FIELDS))
    if not rows and not WorkflowRun.objects.using(store.db()).filter(id=run_id).exists():
        raise WorkflowNotFound(f"Cannot list the steps of workflow run {run_id!r}: there is no such run.")
    return rows


def _info(row: dict[str, Any]) -> StepInfo:
    error = serialization.loads(row["error"]) if row["error"] is not None else None
    status = PENDING if row["finished_at"] is None else FAILED if row["error"] is not None else SUCCEEDED
    output = serialization.loads(row["output"]) if status == SUCCEEDED else None
    return StepInfo(
        seq=row["seq"],
        kind=row["kind"],
        name=row["name"],
        status=status,
        output=output,
        error=error,
        attempts=row["attempts"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )
