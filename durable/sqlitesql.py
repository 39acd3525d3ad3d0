"""The engine's hot path on SQLite as plain statements: checkpoints (several threads' in one
transaction), a run's end and the claim.

On the embedded database one writer at a time holds the write lock, for the whole transaction
(``transaction_mode`` IMMEDIATE), and a worker's threads queue for it in ``writelock``. So what a
write does while it holds the lock is time every other run waits, the client starting runs
included. Built by the ORM, a run's end (its last checkpoint, the run's row, the wake-up of its
waiters and the claim of the thread's next run) held the lock 8.8 ms on average, 6.1 ms of it in
the transaction's body, mostly Python building queries with seven other threads wanting the
interpreter. Written out, the same statements hold it 2.6 ms in all, and the 3-step workflows of
``bench.sqlite_side`` went from 79-98 to 189-203 a second. The rare shapes (a child's end, a
limited queue's claim) keep the ORM in ``store``.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import notify, writelock
from .models import Checkpoint, Status
from .pgsql import SeqTaken
from .records import ClaimedRun, ClaimRequest, Finished

# Named from the model and the record, so that neither list can drift from what it stands for.
_CHECKPOINT = tuple(f.column for f in Checkpoint._meta.concrete_fields if not f.primary_key)
_INSERT_CHECKPOINT = (
    f"INSERT INTO durable_checkpoint ({', '.join(_CHECKPOINT)}) VALUES ({', '.join(['%s'] * len(_CHECKPOINT))}) "
    "ON CONFLICT (run_id, seq) DO NOTHING RETURNING id"
)
_CLAIMED = tuple(name for name in ClaimedRun.__dataclass_fields__ if name not in ("history", "received_seq"))


def _in(values: Sequence[Any]) -> str:
    return f"({', '.join(['%s'] * len(values))})"


def _adapt(alias: str, value: Any) -> Any:
    return connections[alias].ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value


def _datetime(value: datetime | str | None) -> datetime | None:
    """A stored date as Django's SQLite backend reads it (its column type converts it): UTC, aware."""
    parsed = parse_datetime(value) if isinstance(value, str) else value
    return parsed if parsed is None or timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


# --- checkpoints --------------------------------------------------------------------------


def insert_checkpoints(alias: str, writes: list[tuple[Checkpoint, str]]) -> list[bool | BaseException]:
    """Insert the checkpoints in one transaction (or the caller's): for each, whether its owner
    still holds the run, or the error of a seq another worker recorded first."""
    with writelock.atomic(alias, savepoint=False), connections[alias].cursor() as cursor:
        return _insert_checkpoints(alias, cursor, writes)


def insert_checkpoint(alias: str, cp: Checkpoint, owner: str) -> bool:
    """Insert ``cp`` in the caller's transaction and tell whether ``owner`` still holds the run;
    SeqTaken if another worker recorded this seq first."""
    with connections[alias].cursor() as cursor:
        outcome = _insert_checkpoints(alias, cursor, [(cp, owner)])[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _insert_checkpoints(alias: str, cursor: Any, writes: list[tuple[Checkpoint, str]]) -> list[bool | BaseException]:
    ids: list[int | None] = []
    for cp, _ in writes:
        cursor.execute(_INSERT_CHECKPOINT, [_adapt(alias, getattr(cp, c)) for c in _CHECKPOINT])
        row = cursor.fetchone()
        ids.append(None if row is None else row[0])
    runs = sorted({cp.run_id for cp, _ in writes})
    cursor.execute(f"SELECT id, lease_owner FROM durable_workflowrun WHERE status = %s AND id IN {_in(runs)}",
                   [Status.RUNNING, *runs])  # fmt: skip
    owners = dict(cursor.fetchall())
    outcomes: list[bool | BaseException] = []
    for (cp, owner), pk in zip(writes, ids, strict=True):
        if pk is None:
            outcomes.append(SeqTaken(f"checkpoint #{cp.seq} of run {cp.run_id} was recorded by another worker"))
            continue
        cp.pk = pk
        cp._state.adding = False
        outcomes.append(owners.get(cp.run_id) == owner)
    return outcomes


# --- the end of a run ---------------------------------------------------------------------


def finish(
    alias: str,
    run_id: str,
    owner: str,
    values: dict[str, Any],
    pending: Checkpoint | None,
    end_topic: str,
    then: ClaimRequest | None,
) -> Finished:
    """Set ``values`` on the run if ``owner`` still holds it, with its deferred last checkpoint
    (``pending``), the wake-up of the runs parked on its end (``end_topic``) and the lease of the
    runs ``then`` asks for, in one transaction. A run with a parent is not finished here."""
    with writelock.atomic(alias, savepoint=False), connections[alias].cursor() as cursor:
        if pending is not None and _insert_checkpoints(alias, cursor, [(pending, owner)])[0] is not True:
            return Finished(False)
        columns = ", ".join(f"{name} = %s" for name in values)
        cursor.execute(
            f"UPDATE durable_workflowrun SET {columns} WHERE id = %s AND status = %s AND lease_owner = %s",
            [*(_adapt(alias, v) for v in values.values()), run_id, Status.RUNNING, owner],
        )
        if not cursor.rowcount:
            return Finished(False)
        now = _adapt(alias, values["updated_at"])
        cursor.execute(
            "UPDATE durable_workflowrun SET updated_at = %s, status = %s, ready_at = %s, wait_topic = NULL, "
            "wait_until = NULL WHERE status = %s AND wait_topic = %s",
            [now, Status.ENQUEUED, now, Status.WAITING, end_topic],
        )
        if cursor.rowcount:
            notify.workers_after_commit()
        leased = () if then is None else _claim(alias, cursor, then, values["updated_at"])
    return Finished(True, leased, looked=then is not None)


# --- claiming -----------------------------------------------------------------------------

# The statuses a claim takes, in order, each with its partial index (``WorkflowRun.Meta``) and
# that index's order. Named, and the status written into the statement: without statistics
# SQLite's planner takes the index on (status, created_at) and sorts every parked run.
_PICKED = (
    (Status.WAITING.value, "durable_run_due_idx", "ready_at"),
    (Status.RUNNING.value, "durable_run_lease_idx", "ready_at"),
    (Status.ENQUEUED.value, "durable_run_enqueued_idx", "priority, ready_at"),
)


def runnable(alias: str, now: datetime) -> bool:
    """Whether any run is runnable in any queue: one read, each status from its partial index."""
    exists = "EXISTS (SELECT 1 FROM durable_workflowrun INDEXED BY {} WHERE ready_at <= %s AND status = '{}')"
    parts = [exists.format(index, status) for status, index, _ in _PICKED]
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT {' OR '.join(parts)}", [_adapt(alias, now)] * len(parts))
        return bool(cursor.fetchone()[0])


def claim(alias: str, request: ClaimRequest) -> tuple[ClaimedRun, ...]:
    """Lease up to ``request.limit`` runnable runs: due ones first (back from a wait, then, with
    ``request.takeover``, a dead worker's), then enqueued ones by priority."""
    with writelock.atomic(alias, savepoint=False), connections[alias].cursor() as cursor:
        return _claim(alias, cursor, request, timezone.now())


def _claim(alias: str, cursor: Any, request: ClaimRequest, now: datetime) -> tuple[ClaimedRun, ...]:
    at = _adapt(alias, now)
    where, params = [], []
    if request.only is not None:
        where.append("queue = %s")
        params.append(request.only)
    elif request.queues is not None:
        where.append(f"queue IN {_in(request.queues)}" if request.queues else "0")
        params += request.queues
    if request.exclude:
        where.append(f"queue NOT IN {_in(request.exclude)}")
        params += request.exclude
    if request.version is not None:  # started runs only on workers of their version
        where.append("(started_at IS NULL OR app_version IN (%s, ''))")
        params.append(request.version)
    if request.started_only:
        where.append("started_at IS NOT NULL")
    filters = "".join(f" AND {w}" for w in where)
    select = f"SELECT {', '.join(_CLAIMED)} FROM durable_workflowrun INDEXED BY {{index}} WHERE ready_at <= %s{filters}"
    # Back from a wait, a dead worker's lease ran out, enqueued: one read, each status from its
    # partial index, in that order (a compound SELECT's parts are read one after the other).
    picked = _PICKED if request.takeover else _PICKED[::2]
    parts = [
        f"SELECT * FROM ({select.format(index=index)} AND status = '{status}' ORDER BY {order} LIMIT %s)"
        for status, index, order in picked
    ]
    cursor.execute(" UNION ALL ".join(parts), [at, *params, request.limit] * len(parts))
    rows = cursor.fetchall()[: request.limit]
    if not rows:
        return ()
    ids = [row[0] for row in rows]
    version, version_params = ("", []) if request.version is None else (", app_version = %s", [request.version])
    cursor.execute(
        "UPDATE durable_workflowrun SET updated_at = %s, status = %s, lease_owner = %s, ready_at = %s, "
        "wait_topic = NULL, wait_until = NULL, started_at = COALESCE(started_at, %s), "
        f"recovery_attempts = recovery_attempts + (status = %s){version} WHERE id IN {_in(ids)}",
        [at, Status.RUNNING, request.owner, _adapt(alias, now + request.lease), at, Status.RUNNING,
         *version_params, *ids],
    )  # fmt: skip
    claimed = []
    for row in rows:
        run = dict(zip(_CLAIMED, row, strict=True))
        run["started_at"] = _datetime(run["started_at"])
        run["recovery_attempts"] += run["status"] == Status.RUNNING
        claimed.append(ClaimedRun(**run))
    return tuple(claimed)
