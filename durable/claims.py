"""The claim as one statement on PostgreSQL: pick due and enqueued runs, lease them, return them.

A claim is on every wake-up's path, and on this kind of machine each round trip costs about as
much as the work itself, so the generic ORM claim (six statements) is replaced here by one.
"""

from datetime import datetime
from typing import Any

from django.db import connections

from .models import WorkflowRun

_CLAIM = """
WITH due AS (
    SELECT id, status, started_at FROM durable_workflowrun
    WHERE status IN ('WAITING', 'RUNNING') AND ready_at <= %(now)s {queues}
    ORDER BY ready_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), fresh AS (
    SELECT id, status, started_at FROM durable_workflowrun
    WHERE status = 'ENQUEUED' AND ready_at <= %(now)s {queues}
    ORDER BY priority, ready_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), picked AS (
    (SELECT * FROM due) UNION ALL (SELECT * FROM fresh) LIMIT %(limit)s
)
UPDATE durable_workflowrun AS r
SET status = 'RUNNING', lease_owner = %(owner)s, ready_at = %(lease_until)s, wait_topic = NULL,
    wait_until = NULL, updated_at = %(now)s, started_at = COALESCE(r.started_at, %(now)s),
    recovery_attempts = r.recovery_attempts + CASE WHEN picked.status = 'RUNNING' THEN 1 ELSE 0 END
FROM picked
WHERE r.id = picked.id
    -- a lost claim only puts the run back as it was: no need to wait for the disk flush
    AND (SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL
RETURNING r.id, r.name, r.target, r.inputs, r.queue, r.recovery_attempts, r.max_recovery_attempts,
    picked.started_at, r.forked_from, r.parent_id, picked.status
"""

_FIELDS = (
    "id", "name", "target", "inputs", "queue", "recovery_attempts", "max_recovery_attempts",
    "started_at", "forked_from", "parent_id", "status",
)  # fmt: skip


def claim(
    alias: str,
    owner: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    only: str | None,
    queues: list[str] | None,
    exclude: list[str] | None,
) -> list[WorkflowRun]:
    """Lease up to ``limit`` runnable runs to ``owner``: due ones (deadline or lease passed)
    first, then enqueued ones by priority. ``status`` on each is what it was before."""
    conditions: list[str] = []
    params: dict[str, Any] = {"now": now, "limit": limit, "owner": owner, "lease_until": lease_until}
    if only is not None:
        conditions.append("AND queue = %(only)s")
        params["only"] = only
    elif queues is not None:
        conditions.append("AND queue = ANY(%(queues)s)")
        params["queues"] = list(queues)
    if exclude:
        conditions.append("AND NOT (queue = ANY(%(exclude)s))")
        params["exclude"] = list(exclude)
    with connections[alias].cursor() as cursor:
        cursor.execute(_CLAIM.format(queues=" ".join(conditions)), params)
        rows = cursor.fetchall()
    return [_run(dict(zip(_FIELDS, row, strict=True))) for row in rows]


def _run(values: dict[str, Any]) -> WorkflowRun:
    run = WorkflowRun(**values)  # status and started_at as they were before the claim
    run._state.adding = False
    return run
