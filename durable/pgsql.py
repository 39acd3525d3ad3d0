"""The engine's hot path on PostgreSQL: one statement per operation, prepared once per connection.

Every durable operation is a committed write, and on a fast network the server spends about as
long parsing and planning a statement as executing it, and Django about as long building it. So
what every run does (start, claim, checkpoint, finish, send, consume) is written here as single
SQL statements executed as server-side prepared statements (SQLite's are in ``sqlitesql``).
Behind a pooler in transaction mode that cannot keep prepared statements (PgBouncer before
1.21), set ``DURABLE_PREPARED_STATEMENTS = False``.
"""

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connections
from django.utils import timezone

from .conf import get_settings
from .models import END_TOPIC_PREFIX, Checkpoint
from .notify import CHANNEL
from .prepared import cursor, fetchall, fetchone
from .records import ClaimedRun, ClaimRequest, Finished, NewRun, Received


class SeqTaken(IntegrityError):
    """A checkpoint's seq was recorded already: another worker took the run over."""


def enabled(alias: str) -> bool:
    """Whether ``alias`` is PostgreSQL, where these statements replace the ORM's."""
    return connections[alias].vendor == "postgresql"


# --- start and claim ---------------------------------------------------------------------

_INSERT_RUN = """
    WITH ins AS (
        INSERT INTO durable_workflowrun
            (id, name, target, status, queue, priority, inputs, error_message, traceback, parent_id,
             forked_from, ready_at, lease_owner, recovery_attempts, max_recovery_attempts, created_at, updated_at,
             timeout_at, deduplication_id, app_version)
        VALUES (%s, %s, %s, 'ENQUEUED', %s, %s, %s, '', '', %s, '', %s, '', 0, %s, %s, %s, %s, %s, '')
        ON CONFLICT (id) DO NOTHING RETURNING id
    )
    SELECT id{notify} FROM ins
"""
_INSERT_RUN_NOTIFY = _INSERT_RUN.format(notify=f", pg_notify('{CHANNEL}', '')")
_INSERT_RUN_QUIET = _INSERT_RUN.format(notify="")


def insert_run(alias: str, run: NewRun) -> bool:
    """Insert a new run and wake the workers (at commit); False if the id exists."""
    return fetchone(alias, _insert_sql(), _run_params(run)) is not None


def insert_runs(alias: str, runs: Sequence[NewRun]) -> None:
    """Insert new runs with ``insert_run``'s statement, sent in one pipeline (psycopg's
    ``executemany``): what as many ``durable.start`` calls write, without a round trip each
    (a benchmark's or a backfill's bulk start). Ids that exist are skipped."""
    with cursor(alias) as c:
        c.executemany(_insert_sql(), [_run_params(run) for run in runs])


def _insert_sql() -> str:
    return _INSERT_RUN_NOTIFY if get_settings().notify_enabled else _INSERT_RUN_QUIET


def _run_params(run: NewRun) -> tuple[Any, ...]:
    return (run.id, run.name, run.target, run.queue, run.priority, run.inputs, run.parent_id, run.created_at,
            run.max_recovery_attempts, run.created_at, run.created_at, run.timeout_at,
            run.deduplication_id)  # fmt: skip


# Parked runs back from a wait first, then (``takeover``) runs whose worker's lease ran out, then
# enqueued ones: (CTE, status, order), each read from its own partial index only as far as the
# LIMIT needs.
_DUE = ("due", "WAITING", "ready_at")
_EXPIRED = ("expired", "RUNNING", "ready_at")
_FRESH = ("fresh", "ENQUEUED", "priority, ready_at")
_PICK = """
    {name} AS (
        SELECT id, status, started_at FROM durable_workflowrun
        WHERE status = '{status}' AND ready_at <= %(now)s {queues} {also}
        ORDER BY {order} LIMIT %(limit)s FOR UPDATE SKIP LOCKED
    )"""
_CLAIM_UPDATE = """
    claimed AS (
        UPDATE durable_workflowrun AS r
        SET status = 'RUNNING', lease_owner = %(owner)s, ready_at = %(lease_until)s, wait_topic = NULL,
            wait_until = NULL, updated_at = %(now)s, started_at = COALESCE(r.started_at, %(now)s), {version}
            recovery_attempts = r.recovery_attempts + CASE WHEN picked.status = 'RUNNING' THEN 1 ELSE 0 END
        FROM picked
        WHERE r.id = picked.id {relaxed}
        RETURNING r.id, r.name, r.target, r.inputs, r.queue, r.recovery_attempts, r.max_recovery_attempts,
            picked.started_at, r.forked_from, r.parent_id, picked.status
    ),
    -- A run woken in a recv takes its message now: the recv, its last checkpoint, is completed
    -- and the oldest pending message on its topic consumed, as its replay would do next. The
    -- server may keep a generic plan for the prepared statement, made while the tables were nearly
    -- empty, that scans every checkpoint for the join: not at all when no message was taken.
    waiting AS (
        SELECT c.id, c.run_id, c.name, c.seq FROM claimed CROSS JOIN LATERAL (
            SELECT id, run_id, name, seq, kind, finished_at FROM durable_checkpoint
            WHERE run_id = claimed.id ORDER BY seq DESC LIMIT 1
        ) AS c
        WHERE claimed.started_at IS NOT NULL AND c.kind = 'recv' AND c.finished_at IS NULL
    ), message AS (
        SELECT waiting.id AS checkpoint, waiting.run_id, waiting.seq, m.id, m.body FROM waiting CROSS JOIN LATERAL (
            SELECT id, body FROM durable_message
            WHERE destination_id = waiting.run_id AND topic = waiting.name AND consumed_at IS NULL
            ORDER BY id LIMIT 1 FOR UPDATE
        ) AS m
    ), received AS (
        UPDATE durable_checkpoint AS c SET output = message.body, finished_at = %(now)s FROM message
        WHERE c.id = message.checkpoint AND c.run_id = message.run_id AND c.finished_at IS NULL
            AND EXISTS (SELECT 1 FROM message)
        RETURNING c.id, c.run_id, message.id AS message, message.seq, message.body
    ), consumed AS (
        UPDATE durable_message AS m SET consumed_at = %(now)s, consumed_seq = received.seq FROM received
        WHERE m.id = received.message
    ), leased AS (
        SELECT claimed.*, received.id AS received, received.body AS received_body,
            CASE WHEN claimed.started_at IS NOT NULL OR claimed.forked_from <> '' THEN (
                SELECT json_agg(json_build_array(c.id, c.seq, c.kind, c.name, c.output, c.error, c.deadline,
                    c.attempts, c.started_at, c.finished_at))
                FROM durable_checkpoint AS c WHERE c.run_id = claimed.id
            ) END AS history
        FROM claimed LEFT JOIN received ON received.run_id = claimed.id
    )
"""
# A lost claim only puts the run back as it was: no need to wait for the disk flush.
_RELAXED = "AND (SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL"

_CLAIMED = (
    "id", "name", "target", "inputs", "queue", "recovery_attempts", "max_recovery_attempts",
    "started_at", "forked_from", "parent_id", "status",
)  # fmt: skip


def claim_sql(
    request: ClaimRequest, relaxed: bool, when: str = "", limit: str = "%(limit)s"
) -> tuple[str, dict[str, Any]]:
    """The CTEs that pick the runs ``request`` asks for and lease them (``leased``: one row per
    run, with its history), and their parameters. ``relaxed``: commit without waiting for the flush;
    ``when``: a further condition on the runs picked (``AND ...``); ``limit``: how many of the
    ``request.limit`` picked to lease (an expression over the statement's other CTEs). Each pick
    keeps ``request.limit`` as its own LIMIT, a parameter the planner can cost its ordered index
    scan against; the union's LIMIT then takes only as many of them as needed."""
    now = timezone.now()
    params: dict[str, Any] = {"now": now, "limit": request.limit, "owner": request.owner,
                              "lease_until": now + request.lease, "only": request.only,
                              "queues": None if request.queues is None else list(request.queues),
                              "exclude": list(request.exclude), "version": request.version}  # fmt: skip
    text = _claim_text(
        request.only is not None,
        request.queues is not None,
        bool(request.exclude),
        request.version is not None,
        request.started_only,
        request.takeover,
        relaxed,
        when,
        limit,
    )
    return text, params


@functools.cache
def _claim_text(
    only: bool,
    queues: bool,
    exclude: bool,
    version: bool,
    started_only: bool,
    takeover: bool,
    relaxed: bool,
    when: str,
    limit: str,
) -> str:
    """``claim_sql``'s statement for a request of that shape: a few shapes per worker, each built once."""
    conditions: list[str] = [when]
    if only:
        conditions.append("AND queue = %(only)s")
    elif queues:
        conditions.append("AND queue = ANY(%(queues)s)")
    if exclude:
        conditions.append("AND NOT (queue = ANY(%(exclude)s))")
    started, fresh, set_version = "", "", ""
    if version:
        # Started runs only on workers of their version ('': started before versions existed).
        started = "AND app_version IN (%(version)s, '')"
        fresh = "AND (started_at IS NULL OR app_version IN (%(version)s, ''))"
        set_version = "app_version = %(version)s,"
    if started_only:
        fresh += " AND started_at IS NOT NULL"
    queue = " ".join(conditions)
    sources = [(_DUE, started), *([(_EXPIRED, started)] if takeover else []), (_FRESH, fresh)]
    picks = [_PICK.format(name=name, status=status, order=order, queues=queue, also=also)
             for (name, status, order), also in sources]  # fmt: skip
    union = " UNION ALL ".join(f"(SELECT * FROM {name})" for (name, _, _), _ in sources)
    picking = ", ".join([*picks, f"picked AS ({union} LIMIT {limit})"])
    update = _CLAIM_UPDATE.format(relaxed=_RELAXED if relaxed else "", version=set_version)
    return f"{picking}, {update}"


def _take(rows: list[tuple[Any, ...]], now: datetime) -> tuple[ClaimedRun, ...]:
    """The leased runs from ``leased`` rows, each with its checkpoints by seq."""
    runs = []
    for row in rows:
        values = dict(zip(_CLAIMED, row, strict=False))
        received, body, history = row[len(_CLAIMED) :]
        checkpoints = {cp.seq: cp for cp in map(_checkpoint, history or [])}
        received_seq = None
        for cp in checkpoints.values():
            cp.run_id = values["id"]
            if cp.pk == received:  # completed in the claim, after the history was read
                cp.output, cp.finished_at, received_seq = body, now, cp.seq
        runs.append(ClaimedRun(**values, history=checkpoints, received_seq=received_seq))
    return tuple(runs)


def claim(alias: str, request: ClaimRequest) -> tuple[ClaimedRun, ...]:
    """Lease the runs ``request`` asks for; a statement of its own, committed without a flush."""
    ctes, params = claim_sql(request, relaxed=True)
    with cursor(alias) as c:
        c.execute(f"WITH {ctes} SELECT * FROM leased", params)
        return _take(c.fetchall(), params["now"])


def _checkpoint(values: list[Any]) -> Checkpoint:
    pk, seq, kind, name, output, error, deadline, attempts, started_at, finished_at = values
    cp = Checkpoint(id=pk, seq=seq, kind=kind, name=name, output=output, error=error, deadline=_instant(deadline),
                    attempts=attempts, started_at=datetime.fromisoformat(started_at),
                    finished_at=_instant(finished_at))  # fmt: skip
    cp._state.adding = False
    return cp


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


# --- checkpoints and the end of a run ----------------------------------------------------

_CHECKPOINT_COLUMNS = ("run_id", "seq", "kind", "name", "output", "error", "deadline", "attempts", "started_at",
                       "finished_at")  # fmt: skip
_COLUMNS = ", ".join(_CHECKPOINT_COLUMNS)


# Whether the run's lease is ``owner``'s, written as a CASE on purpose: from ``status = 'RUNNING'``
# the planner may choose the partial index of RUNNING runs over the primary key, and a generic plan
# the server keeps for the prepared statement, made while the table was small, then reads all that
# index's entries (and the dead one each finished or parked run left) for every step. A CASE it cannot match to
# that index, so the run is found by its id. On the row itself, so a concurrent update is rechecked.
def _lease_held(table: str, owner: str) -> str:
    return f"CASE WHEN {table}status = 'RUNNING' THEN {table}lease_owner = {owner} END"


_HELD = f"EXISTS (SELECT 1 FROM durable_workflowrun WHERE id = %s AND {_lease_held('', '%s')})"

_INSERT_CHECKPOINT = f"""
    WITH ins AS (
        INSERT INTO durable_checkpoint ({_COLUMNS})
        VALUES ({", ".join(["%s"] * len(_CHECKPOINT_COLUMNS))}) RETURNING id
    )
    SELECT (SELECT id FROM ins), {_HELD}
"""


def insert_checkpoint(alias: str, cp: Checkpoint, owner: str) -> bool:
    """Insert ``cp`` and tell whether ``owner`` still holds the run."""
    params = [*(getattr(cp, c) for c in _CHECKPOINT_COLUMNS), cp.run_id, owner]
    cp.pk, held = fetchone(alias, _INSERT_CHECKPOINT, params)  # type: ignore[misc]
    cp._state.adding = False
    return bool(held)


_INSERT_CHECKPOINTS = f"""
    WITH rows AS (
        SELECT * FROM json_to_recordset(%s::json) AS r(run_id varchar, seq integer, kind varchar, name varchar,
            output text, error text, deadline timestamptz, attempts integer, started_at timestamptz,
            finished_at timestamptz, owner varchar, position integer)
    ), ins AS (
        INSERT INTO durable_checkpoint ({_COLUMNS})
        SELECT {_COLUMNS} FROM rows
        ON CONFLICT (run_id, seq) DO NOTHING
        RETURNING id, run_id, seq
    )
    SELECT ins.id, EXISTS (
        SELECT 1 FROM durable_workflowrun AS w
        WHERE w.id = rows.run_id AND {_lease_held("w.", "rows.owner")}
    )
    FROM rows LEFT JOIN ins ON ins.run_id = rows.run_id AND ins.seq = rows.seq
    ORDER BY rows.position
"""


def insert_checkpoints(alias: str, writes: list[tuple[Checkpoint, str]]) -> list[bool | BaseException]:
    """Insert several runs' checkpoints in one statement: for each, whether its owner still
    holds the run, or the IntegrityError of a seq another worker recorded first."""
    rows = fetchall(alias, _INSERT_CHECKPOINTS, [_json_rows(writes)])
    outcomes: list[bool | BaseException] = []
    for (cp, _), (pk, held) in zip(writes, rows, strict=True):
        if pk is None:
            outcomes.append(SeqTaken(f"checkpoint #{cp.seq} of run {cp.run_id} was recorded by another worker"))
            continue
        cp.pk = pk
        cp._state.adding = False
        outcomes.append(bool(held))
    return outcomes


def _json_rows(writes: list[tuple[Checkpoint, str]]) -> str:
    """The batch as one JSON parameter. Arrays, one per column, made the server re-plan the
    statement on every execution: it knows their lengths when planning for given values, so
    that plan always looked cheaper than the one for any values. A JSON parameter looks the
    same to the planner whatever it holds, so the statement is planned once per connection."""
    return json.dumps([{**_checkpoint_row(cp), "owner": owner, "position": i} for i, (cp, owner) in enumerate(writes)])


def _checkpoint_row(cp: Checkpoint) -> dict[str, Any]:
    row = {c: getattr(cp, c) for c in _CHECKPOINT_COLUMNS}
    for c in ("deadline", "started_at", "finished_at"):
        row[c] = None if row[c] is None else row[c].isoformat()
    return row


def finish(
    alias: str,
    run_id: str,
    owner: str,
    values: dict[str, Any],
    pending: Checkpoint | None,
    end_topic: str,
    then: ClaimRequest | None = None,
) -> Finished:
    """Set ``values`` (fields named as their columns) on the run if ``owner`` still holds it, in
    one statement with the run's deferred last checkpoint (``pending``), the wake-up of runs
    parked on its end (``end_topic``) and the lease of the runs ``then`` asks for."""
    params: dict[str, Any] = {"run": run_id, "run_owner": owner, "end_topic": end_topic, "channel": CHANNEL,
                              "notify": get_settings().notify_enabled}  # fmt: skip
    params.update({f"set_{name}": value for name, value in values.items()})
    columns = ", ".join(f"{name} = %(set_{name})s" for name in values)
    ctes = []
    if pending is not None:
        ctes.append(_FINISH_CHECKPOINT)
        params.update({f"cp_{c}": getattr(pending, c) for c in _CHECKPOINT_COLUMNS})
    held = _lease_held("", "%(run_owner)s")
    ctes.append(_FINISH_RUN.format(columns=columns, held=held, recorded=_RECORDED if pending is not None else ""))
    ctes.append(_WAKE_WAITERS)
    select = "SELECT (SELECT count(*) FROM finished), {cp}, (SELECT count(*) FROM waiters_notified)"
    select = select.format(cp="(SELECT id FROM cp)" if pending is not None else "NULL")
    if then is not None:
        claiming, claim_params = claim_sql(then, relaxed=False)
        ctes.append(claiming)
        params.update(claim_params)
        select += ", leased.* FROM (SELECT 1) AS one LEFT JOIN leased ON true"
    with cursor(alias) as c:
        c.execute(f"WITH {', '.join(ctes)} {select}", params)
        rows = c.fetchall()
    finished, pk = rows[0][:2]
    if pending is not None and pk is not None:
        pending.pk = pk
        pending._state.adding = False
    leased = _take([row[3:] for row in rows if row[3] is not None], params["now"]) if then is not None else ()
    return Finished(bool(finished), leased, looked=then is not None and bool(finished))


_FINISH_CHECKPOINT = f"""
    cp AS (
        INSERT INTO durable_checkpoint ({_COLUMNS})
        VALUES ({", ".join(f"%(cp_{c})s" for c in _CHECKPOINT_COLUMNS)})
        ON CONFLICT (run_id, seq) DO NOTHING RETURNING id
    )
"""
_FINISH_RUN = """
    finished AS (
        UPDATE durable_workflowrun SET {columns}
        WHERE id = %(run)s AND {held} {recorded}
        RETURNING id
    )
"""
_RECORDED = "AND EXISTS (SELECT 1 FROM cp)"  # another worker recorded the last step: not ours
# Runs parked on this run's end that are not its parent (whose wake-up is exact, under locks):
# woken from this statement's snapshot, so one that parks at the same instant can be missed, and
# such a waiter looks again by itself at a deadline it parked with (see ``waiting``).
# The prefix condition names the index of runs waiting for a run's end (``durable_run_end_waiters_idx``),
# which a plan made for any topic uses whatever the statistics say the other waiting runs wait on.
_WAKE_WAITERS = f"""
    waiters AS (
        UPDATE durable_workflowrun SET status = 'ENQUEUED', ready_at = %(set_finished_at)s, wait_topic = NULL,
            wait_until = NULL, updated_at = %(set_finished_at)s
        WHERE status = 'WAITING' AND wait_topic = %(end_topic)s AND wait_topic LIKE '{END_TOPIC_PREFIX}%%'
            AND EXISTS (SELECT 1 FROM finished)
        RETURNING id
    ), waiters_notified AS (
        SELECT pg_notify(%(channel)s, '') FROM (SELECT 1 FROM waiters LIMIT 1) AS any_ WHERE %(notify)s
    )
"""


# --- messages --------------------------------------------------------------------------

# The run's row is locked first, as a park locks it: a send that waited for a park to commit
# sees the run WAITING (the locked row's values, not the statement's older snapshot) and wakes it.
# A RUNNING run's row is updated too, to a new version with the same values: a park under way
# (``_RECEIVE``) learns from it that a message came after its snapshot.
# FOR NO KEY UPDATE, not FOR UPDATE: it does not conflict with the key-share locks that foreign
# keys take, so two runs sending to each other (each transaction also checkpointing its own run)
# cannot deadlock.
_DELIVER = """
    WITH run AS (
        SELECT id, status, wait_topic FROM durable_workflowrun WHERE id = %(run)s FOR NO KEY UPDATE
    ), msg AS (
        INSERT INTO durable_message (destination_id, topic, body, idempotency_key, sender, created_at)
        SELECT id, %(topic)s, %(body)s, %(key)s, %(sender)s, %(now)s FROM run
        ON CONFLICT (destination_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING id
    ), woken AS (
        UPDATE durable_workflowrun AS r
        SET status = CASE WHEN run.status = 'WAITING' THEN 'ENQUEUED' ELSE r.status END,
            ready_at = CASE WHEN run.status = 'WAITING' THEN %(now)s ELSE r.ready_at END,
            updated_at = CASE WHEN run.status = 'WAITING' THEN %(now)s ELSE r.updated_at END,
            wait_topic = NULL, wait_until = NULL
        FROM run
        WHERE r.id = run.id AND EXISTS (SELECT 1 FROM msg)
            AND (run.status = 'WAITING' AND run.wait_topic = %(topic)s OR run.status = 'RUNNING')
        RETURNING r.id, run.status = 'WAITING' AS woke
    ), notified AS (
        SELECT pg_notify(%(channel)s, '') FROM woken WHERE woke AND %(notify)s
    )
    SELECT (SELECT count(*) FROM run), (SELECT count(*) FROM msg), (SELECT count(*) FROM notified)
"""


def deliver(alias: str, run_id: str, topic: str, body: str, key: str | None, sender: str, now: datetime) -> bool | None:
    """Store a message for ``run_id`` and wake the run if it waits on ``topic``. False if
    ``key`` was delivered before, None if there is no such run."""
    params = {"run": run_id, "topic": topic, "body": body, "key": key, "sender": sender, "now": now,
              "channel": CHANNEL, "notify": get_settings().notify_enabled}  # fmt: skip
    found, stored, _ = fetchone(alias, _DELIVER, params)  # type: ignore[misc]
    return bool(stored) if found else None


# Complete the recv's checkpoint first and mark the message consumed only if that worked, so
# one statement either does both or nothing. Consumption need not wait for the disk flush: lost,
# the recv replays and takes the same message again.
_CONSUME = f"""
    WITH msg AS (
        SELECT id, body FROM durable_message
        WHERE destination_id = %s AND topic = %s AND consumed_at IS NULL {_RELAXED}
        ORDER BY id LIMIT 1 FOR UPDATE
    ), done AS (
        {{checkpoint}}
    ), used AS (
        UPDATE durable_message AS m SET consumed_at = %s, consumed_seq = %s
        FROM msg WHERE m.id = msg.id AND EXISTS (SELECT 1 FROM done)
    )
    SELECT (SELECT body FROM msg), (SELECT id FROM done)
"""
_FINISH_PENDING = _CONSUME.format(
    checkpoint=f"""UPDATE durable_checkpoint AS c SET output = msg.body, finished_at = %s FROM msg
        WHERE c.id = %s AND c.finished_at IS NULL AND {_HELD} RETURNING c.id"""
)
_INSERT_DONE = _CONSUME.format(
    checkpoint=f"""INSERT INTO durable_checkpoint ({_COLUMNS})
        SELECT %s, %s, 'recv', %s, msg.body, NULL, NULL, 1, %s, %s FROM msg WHERE {_HELD}
        RETURNING id"""
)


def consume(alias: str, cp: Checkpoint, owner: str, now: datetime) -> tuple[str | None, bool]:
    """Take the oldest pending message on the recv ``cp``'s topic and record it as the recv's
    outcome (completing ``cp`` if it is pending, inserting it if not yet saved). Returns the
    message body (None if there is none) and whether the checkpoint was written; a message
    found but not written means the run was lost to another worker or cancelled."""
    run_id, topic, seq = cp.run_id, cp.name, cp.seq
    if cp.pk is None:
        sql = _INSERT_DONE
        params = [run_id, topic, run_id, seq, topic, now, now, run_id, owner, now, seq]
    else:
        sql, params = _FINISH_PENDING, [run_id, topic, now, cp.pk, run_id, owner, now, seq]
    body, written = fetchone(alias, sql, params)  # type: ignore[misc]
    if written is not None:
        cp.pk = cp.pk or written
        cp.output, cp.finished_at = body, now
        cp._state.adding = False
    return body, written is not None


_HELD_NOW = f"SELECT {_HELD}"


# The rows are locked in the order of their ids, as a group of recvs locks them (``_RECEIVE_MANY``).
_RENEW = f"""
    UPDATE durable_workflowrun AS r SET ready_at = %(until)s, updated_at = %(now)s
    FROM (
        SELECT id FROM durable_workflowrun WHERE id = ANY(%(runs)s) AND {_lease_held("", "%(owner)s")}
        ORDER BY id FOR NO KEY UPDATE
    ) AS held
    WHERE r.id = held.id AND {_lease_held("r.", "%(owner)s")}
    RETURNING r.id
"""


def renew(alias: str, run_ids: list[str], owner: str, until: datetime) -> set[str]:
    """Extend ``owner``'s lease on those of the runs it still holds, until ``until``; their ids."""
    params = {"runs": run_ids, "owner": owner, "until": until, "now": timezone.now()}
    return {run_id for (run_id,) in fetchall(alias, _RENEW, params)}


def held(alias: str, run_id: str, owner: str) -> bool:
    """Whether ``owner`` still holds the run (not cancelled, not taken over)."""
    row = fetchone(alias, _HELD_NOW, [run_id, owner])
    return bool(row and row[0])


# --- a recv: consume or park ---------------------------------------------------------------

# A recv that finds no message parks, in the same statement that looks for one: lock the run's
# row (held by this worker), take the oldest pending message on the topic if there is one (the
# recv's checkpoint is completed with it and the message marked consumed), and if there is none
# record the recv's pending checkpoint and set the run WAITING. A send locks the same row first
# (``_DELIVER``). No wake-up is lost:
# - a send that committed before this statement's snapshot: its message is seen here and taken;
# - a send that takes the row lock after this statement did: it waits for this commit, then
#   sees the run WAITING on its topic in the locked row's newest version, and wakes it;
# - a send that committed after the snapshot but before the lock (or held the lock meanwhile):
#   its message is invisible to this snapshot, but the send updated the run's row (``_DELIVER``
#   touches a RUNNING run), and a row lock returns the row's newest version. So the locked
#   version (``run.tid``) differs from the one in the snapshot (``seen.tid``): nothing is
#   written and the caller runs the statement again, with a new snapshot that sees the message.
# Any other change of the row since the snapshot (a lease renewal) also only costs a repeat.
# The row is found by its id alone (``locked``) and only then checked for this worker's lease
# (``run``): with the status in the same WHERE the planner may prefer the partial index of
# RUNNING runs, whose every entry (and every dead one: each parked run left one) it then reads.
# A run that parks frees its thread, so the statement also leases the thread's next run, as a
# run's end does (``finish``). The commit need not wait for the flush: lost in a crash, the run
# is back as it was, RUNNING under an expired lease, and its replay receives again; a message
# taken is unconsumed again and taken by that replay.
_RECEIVE = f"""
    seen AS (
        SELECT ctid AS tid FROM durable_workflowrun WHERE id = %(run)s
    ), locked AS (
        SELECT id, ctid AS tid, status, lease_owner FROM durable_workflowrun WHERE id = %(run)s {_RELAXED}
        FOR NO KEY UPDATE
    ), run AS (
        SELECT id, tid FROM locked WHERE status = 'RUNNING' AND lease_owner = %(owner)s
    ), current AS (
        SELECT run.id FROM run, seen WHERE run.tid = seen.tid
    ), msg AS (
        SELECT id, body FROM durable_message
        WHERE destination_id = %(run)s AND topic = %(topic)s AND consumed_at IS NULL
            AND EXISTS (SELECT 1 FROM current)
        ORDER BY id LIMIT 1 FOR UPDATE
    ), taken AS (
        {{take}}
    ), used AS (
        UPDATE durable_message AS m SET consumed_at = %(now)s, consumed_seq = %(cp_seq)s
        FROM msg WHERE m.id = msg.id AND EXISTS (SELECT 1 FROM taken)
    ), go AS (
        SELECT id FROM current WHERE NOT EXISTS (SELECT 1 FROM msg)
    ){{record}}, parked AS (
        UPDATE durable_workflowrun AS r
        SET status = 'WAITING', wait_topic = %(topic)s, wait_until = %(deadline)s, ready_at = %(deadline)s,
            lease_owner = '', updated_at = %(now)s
        FROM go WHERE r.id = go.id {{recorded}}
        RETURNING r.id
    )
"""
_TAKE_PENDING = """
        UPDATE durable_checkpoint AS c SET output = msg.body, finished_at = %(now)s FROM msg
        WHERE c.id = %(cp_id)s AND c.finished_at IS NULL RETURNING c.id
"""
_TAKE_NEW = f"""
        INSERT INTO durable_checkpoint ({_COLUMNS})
        SELECT %(cp_run_id)s, %(cp_seq)s, %(cp_kind)s, %(cp_name)s, msg.body, NULL, %(cp_deadline)s, 1,
            %(now)s, %(now)s
        FROM msg ON CONFLICT (run_id, seq) DO NOTHING RETURNING id
"""
_RECORD_PENDING = f"""
    , cp AS (
        INSERT INTO durable_checkpoint ({_COLUMNS})
        SELECT {", ".join(f"%(cp_{c})s" for c in _CHECKPOINT_COLUMNS)} FROM go
        ON CONFLICT (run_id, seq) DO NOTHING RETURNING id
    )
"""
_RECEIVE_PENDING = _RECEIVE.format(take=_TAKE_PENDING, record="", recorded="")
_RECEIVE_NEW = _RECEIVE.format(take=_TAKE_NEW, record=_RECORD_PENDING, recorded=_RECORDED)
_RECEIVED = """
    SELECT (SELECT count(*) FROM run), (SELECT count(*) FROM current), (SELECT body FROM msg),
        (SELECT id FROM taken), (SELECT count(*) FROM parked), {cp}
"""
_LEASE_IF_PARKED = "AND EXISTS (SELECT 1 FROM parked) AND id <> %(run)s"


class Changed(Exception):
    """The run's row changed between the recv statement's snapshot and its lock: run it again."""


class Busy(Changed):
    """Another transaction held the run's row (a send not committed yet): the shared statement
    did not wait for it (``receive_many``); run it again alone."""


def receive(
    alias: str, cp: Checkpoint, owner: str, deadline: datetime | None, then: ClaimRequest | None = None
) -> Received | None:
    """Take the oldest pending message on the recv ``cp``'s topic as its outcome, or park the run
    on that topic until ``deadline``, recording ``cp`` (pending) with the park if it is not saved
    yet, and leasing the runs ``then`` asks for. None: the run is not ``owner``'s (or another
    worker recorded or completed the recv). Raises ``Changed`` when the statement must run
    again (see ``_RECEIVE``)."""
    now = timezone.now()
    params: dict[str, Any] = {"run": cp.run_id, "owner": owner, "topic": cp.name, "deadline": deadline, "now": now,
                              "cp_id": cp.pk, **{f"cp_{c}": getattr(cp, c) for c in _CHECKPOINT_COLUMNS}}  # fmt: skip
    new = cp.pk is None
    ctes = [_RECEIVE_NEW if new else _RECEIVE_PENDING]
    select = _RECEIVED.format(cp="(SELECT id FROM cp)" if new else "NULL")
    if then is not None:
        claiming, claim_params = claim_sql(then, relaxed=False, when=_LEASE_IF_PARKED)
        ctes.append(claiming)
        params.update({**claim_params, "now": now})
        select += ", leased.* FROM (SELECT 1) AS one LEFT JOIN leased ON true"
    with cursor(alias) as c:
        c.execute(f"WITH {', '.join(ctes)} {select}", params)
        rows = c.fetchall()
    leased = _take([row[6:] for row in rows if row[6] is not None], now) if then is not None else ()
    outcome = _received(cp, now, leased, *rows[0][:6])
    if isinstance(outcome, Changed):
        raise outcome
    return outcome


def _received(
    cp: Checkpoint, now: datetime, leased: tuple[ClaimedRun, ...], held: Any, current: Any, body: str | None,
    taken: int | None, parked: Any, pk: int | None,
) -> Received | Changed | None:  # fmt: skip
    """What a recv's statement did for ``cp`` (see ``receive``), with ``cp`` updated to match."""
    if not held:
        return None
    if not current:
        return Changed(cp.run_id)
    if body is not None:
        if taken is None:
            return None
        if cp.pk is None:  # found at once: the recv took no time
            cp.started_at = now
        cp.pk, cp.output, cp.finished_at = taken, body, now
    elif parked:
        cp.pk = cp.pk or pk
    else:
        return None
    cp._state.adding = False
    return Received(body, parked=body is None, leased=leased)


@dataclass(frozen=True)
class Ask:
    """One recv of ``receive_many``: ``cp`` by ``owner``, parking until ``deadline``."""

    cp: Checkpoint
    owner: str
    deadline: datetime | None


# Several threads' recvs in one statement (``groupcommit.Receiver``): ``_RECEIVE`` for each row of
# ``asks``, its proof unchanged row by row, except that a row another transaction holds is skipped
# (nothing is written for it, and its thread runs its recv again alone: ``Busy``), so that a send
# in a caller's long transaction holds up its own run's recv, not the worker's other threads'
# and the group's next statements. The rows are locked in the order of their ids, as the
# lease renewal locks them (``renew``), so two such statements, or one and a renewal, cannot
# deadlock. Each run, and each saved recv checkpoint, is found by its id through a LATERAL subquery
# with a LIMIT, which the planner cannot turn into a join that reads the whole table (a generic plan
# is made once, maybe while the table was small); the checkpoint is then updated by its ctid. The
# runs leased (with a ``then``, which all the asks share) are as many as the recvs that parked.
_RECEIVE_MANY = f"""
    asks AS (
        SELECT * FROM json_to_recordset(%(asks)s::json) AS a(position integer, run varchar, owner varchar,
            topic varchar, until timestamptz, cp_id bigint, seq integer, kind varchar, name varchar, output text,
            error text, deadline timestamptz, attempts integer, started_at timestamptz, finished_at timestamptz)
    ), seen AS (
        SELECT asks.position, s.tid FROM asks CROSS JOIN LATERAL (
            SELECT ctid AS tid FROM durable_workflowrun WHERE id = asks.run LIMIT 1
        ) AS s
    ), locked AS (
        SELECT ordered.position, l.tid, l.status, l.lease_owner
        FROM (SELECT position, run FROM asks ORDER BY run) AS ordered CROSS JOIN LATERAL (
            SELECT ctid AS tid, status, lease_owner FROM durable_workflowrun WHERE id = ordered.run {_RELAXED}
            LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED
        ) AS l
    ), run AS (
        SELECT asks.*, locked.tid FROM asks JOIN locked USING (position)
        WHERE locked.status = 'RUNNING' AND locked.lease_owner = asks.owner
    ), current AS (
        SELECT run.* FROM run JOIN seen USING (position) WHERE run.tid = seen.tid
    ), msg AS (
        SELECT current.position, m.id, m.body FROM current CROSS JOIN LATERAL (
            SELECT id, body FROM durable_message
            WHERE destination_id = current.run AND topic = current.topic AND consumed_at IS NULL
            ORDER BY id LIMIT 1 FOR UPDATE
        ) AS m
    ), new AS (
        INSERT INTO durable_checkpoint ({_COLUMNS})
        SELECT current.run, current.seq, current.kind, current.name,
            CASE WHEN msg.id IS NULL THEN current.output ELSE msg.body END, current.error, current.deadline,
            current.attempts, CASE WHEN msg.id IS NULL THEN current.started_at ELSE %(now)s END,
            CASE WHEN msg.id IS NULL THEN current.finished_at ELSE %(now)s END
        FROM current LEFT JOIN msg USING (position) WHERE current.cp_id IS NULL
        ON CONFLICT (run_id, seq) DO NOTHING RETURNING id, run_id
    ), pending AS (
        UPDATE durable_checkpoint AS c SET output = p.body, finished_at = %(now)s
        FROM (
            SELECT msg.body, saved.tid FROM msg JOIN current USING (position) CROSS JOIN LATERAL (
                SELECT ctid AS tid FROM durable_checkpoint WHERE id = current.cp_id LIMIT 1
            ) AS saved
        ) AS p
        WHERE c.ctid = p.tid AND c.finished_at IS NULL RETURNING c.id, c.run_id
    ), taken AS (
        SELECT current.position, current.seq, msg.id AS message, cp.id
        FROM current JOIN msg USING (position)
            JOIN (SELECT id, run_id FROM new UNION ALL SELECT id, run_id FROM pending) AS cp ON cp.run_id = current.run
    ), used AS (
        UPDATE durable_message AS m SET consumed_at = %(now)s, consumed_seq = taken.seq
        FROM taken WHERE m.id = taken.message
    ), go AS (
        SELECT current.* FROM current
        WHERE NOT EXISTS (SELECT 1 FROM msg WHERE msg.position = current.position)
            AND (current.cp_id IS NOT NULL OR EXISTS (SELECT 1 FROM new WHERE new.run_id = current.run))
    ), parked AS (
        UPDATE durable_workflowrun AS r
        SET status = 'WAITING', wait_topic = go.topic, wait_until = go.until, ready_at = go.until,
            lease_owner = '', updated_at = %(now)s
        FROM go WHERE r.id = go.run
        RETURNING go.position
    )
"""
_RECEIVED_MANY = """
    SELECT asks.position, EXISTS (SELECT 1 FROM run WHERE run.position = asks.position),
        EXISTS (SELECT 1 FROM current WHERE current.position = asks.position),
        (SELECT body FROM msg WHERE msg.position = asks.position),
        (SELECT id FROM taken WHERE taken.position = asks.position),
        EXISTS (SELECT 1 FROM parked WHERE parked.position = asks.position),
        (SELECT new.id FROM new JOIN current ON current.run = new.run_id WHERE current.position = asks.position),
        EXISTS (SELECT 1 FROM seen WHERE seen.position = asks.position)
            AND NOT EXISTS (SELECT 1 FROM locked WHERE locked.position = asks.position)
        {leased}
    FROM asks {join}
"""
_LEASE_IF_MANY_PARKED = "AND EXISTS (SELECT 1 FROM parked) AND NOT (id IN (SELECT run FROM asks))"
_LEASES_WANTED = "(SELECT count(*) FROM parked)"


def receive_many(alias: str, asks: Sequence[Ask], then: ClaimRequest | None = None) -> list[Received | Changed | None]:
    """``receive`` for each of ``asks`` in one statement, leasing with ``then`` as many runs as
    recvs parked: each ask's outcome (a ``Changed`` to raise in its thread when it must run
    again). The leased runs go to the asks that parked, in order."""
    sql, params = receive_many_sql(then)
    now = params["now"]
    params.update(asks=_ask_rows(asks), limit=len(asks))
    with cursor(alias) as c:
        c.execute(sql, params)
        rows = c.fetchall()
    by_position = {row[0]: row for row in rows if row[0] is not None}
    leased = list(_take([row[8:] for row in rows if row[0] is None], now)) if then is not None else []
    outcomes: list[Received | Changed | None] = []
    for position, ask in enumerate(asks):
        row = by_position[position]
        if row[7]:  # its row was locked: nothing written for it
            outcomes.append(Busy(ask.cp.run_id))
            continue
        given = (leased.pop(0),) if row[5] and leased else ()
        outcomes.append(_received(ask.cp, now, given, *row[1:7]))
    return outcomes


def receive_many_sql(then: ClaimRequest | None) -> tuple[str, dict[str, Any]]:
    """``receive_many``'s statement and its parameters but the asks."""
    params: dict[str, Any] = {"now": timezone.now()}
    if then is None:
        return f"WITH {_RECEIVE_MANY} {_RECEIVED_MANY.format(leased='', join='')}", params
    claiming, claim_params = claim_sql(then, relaxed=False, when=_LEASE_IF_MANY_PARKED, limit=_LEASES_WANTED)
    select = _RECEIVED_MANY.format(leased=", leased.*", join="FULL JOIN leased ON false")
    return f"WITH {_RECEIVE_MANY}, {claiming} {select}", {**claim_params, **params}


def _ask_rows(asks: Sequence[Ask]) -> str:
    """The asks as one JSON parameter (see ``_json_rows``)."""
    return json.dumps([
        {**_checkpoint_row(ask.cp), "position": position, "run": ask.cp.run_id, "owner": ask.owner,
         "topic": ask.cp.name, "cp_id": ask.cp.pk,
         "until": None if ask.deadline is None else ask.deadline.isoformat()}
        for position, ask in enumerate(asks)
    ])  # fmt: skip
