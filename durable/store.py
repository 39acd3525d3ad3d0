"""The run store: the one owner of a run's row. Every write to it and every change of its status
happens here, and this is the one place that chooses between the prepared PostgreSQL statement
(``pgsql``) and the ORM. Callers get typed values back (``records``), never objects filled in.

A run's life: ENQUEUED (``insert_run``, ``release``, ``resume``) → RUNNING under a worker's lease
(``claim``, ``renew``) → WAITING while parked (``park``; ``wake``, ``deliver``) → SUCCESS or ERROR
(``finish``), or CANCELLED from any unfinished state (``cancel``).
"""

import functools
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from django.db import IntegrityError, connections, transaction
from django.db.models import Case, F, Q, When
from django.utils import timezone

from . import groupcommit, notify, pgsql, signals, sqlitesql, writelock
from .conf import get_settings
from .exceptions import QueueDeduplicated
from .faults import retry_rolled_back
from .models import (
    END_TOPIC_PREFIX,
    TERMINAL,
    UNFINISHED,
    Checkpoint,
    Event,
    Message,
    QueueLock,
    Status,
    StreamValue,
    WorkflowRun,
)
from .records import ClaimedRun, ClaimRequest, Finished, NewRun, Received

Fn = TypeVar("Fn", bound=Callable[..., Any])

CLAIMED_FIELDS = ("id", "name", "target", "inputs", "queue", "status", "recovery_attempts",
                  "max_recovery_attempts", "started_at", "forked_from", "parent_id")  # fmt: skip


def db() -> str:
    return get_settings().DATABASE


def _retried(fn: Fn) -> Fn:
    """Run again when a serialization failure or a deadlock rolled the transaction back (under
    SERIALIZABLE isolation, CockroachDB's, these are everyday); see ``faults.retry_rolled_back``."""

    @functools.wraps(fn)
    def retrying(*args: Any, **kwargs: Any) -> Any:
        return retry_rolled_back(db(), lambda: fn(*args, **kwargs))

    return cast(Fn, retrying)


def _pg() -> bool:
    return pgsql.enabled(db())


def _runs() -> Any:
    return WorkflowRun.objects.using(db())


def _set(qs: Any, **fields: Any) -> int:
    """Update runs, keeping ``updated_at`` true (``QuerySet.update`` skips ``auto_now``)."""
    return int(qs.update(updated_at=fields.pop("updated_at", None) or timezone.now(), **fields))


def end_topic(run_id: str) -> str:
    """The topic a run parks on while it waits for ``run_id`` to end."""
    return f"{END_TOPIC_PREFIX}{run_id}"


# --- starting --------------------------------------------------------------------------


def insert_run(run: NewRun) -> bool:
    """Insert a new run and wake the workers (at commit); False if the id exists. On PostgreSQL
    this is one statement (insert, conflict check and NOTIFY), as it is what every start costs.
    QueueDeduplicated: its queue has an unfinished run with its ``deduplication_id``."""
    try:
        if _pg() and run.deduplication_id is None:
            return retry_rolled_back(db(), lambda: pgsql.insert_run(db(), run))
        if _pg():  # in a savepoint: a refused duplicate leaves the caller's transaction usable
            with transaction.atomic(using=db()):
                return pgsql.insert_run(db(), run)
        with writelock.atomic(db()):
            WorkflowRun(**vars(run), ready_at=run.created_at, updated_at=run.created_at).save(
                using=db(), force_insert=True
            )
    except IntegrityError as exc:
        if run.deduplication_id is None or _runs().filter(id=run.id).exists():
            if _pg():
                raise
            return False  # the id exists: the idempotent start returns that run
        raise _deduplicated(run) from exc
    notify.workers_after_commit()
    return True


def _deduplicated(run: NewRun) -> QueueDeduplicated:
    unfinished = _runs().filter(queue=run.queue, deduplication_id=run.deduplication_id, status__in=UNFINISHED)
    first = unfinished.values_list("id", flat=True).first()
    return QueueDeduplicated(
        f"Queue {run.queue!r} already has an unfinished run{f' ({first})' if first else ''} with deduplication_id "
        f"{run.deduplication_id!r}, so {run.name} was not enqueued again. Wait for that run to finish, or pass "
        "another deduplication_id."
    )


def name_of(run_id: str) -> str | None:
    return _runs().filter(id=run_id).values_list("name", flat=True).first()  # type: ignore[no-any-return]


# --- claiming and leases ------------------------------------------------------------------


def claim(request: ClaimRequest) -> tuple[ClaimedRun, ...]:
    """Lease up to ``request.limit`` runnable runs: due ones first, then new ones by priority."""
    if _pg():
        return pgsql.claim(db(), request)
    return _claim_orm(request)


def claim_limited(
    request: ClaimRequest,
    concurrency: int | None,
    hold_while_parked: bool,
    limiter: tuple[int, float] | None = None,
) -> tuple[ClaimedRun, ...]:
    """Lease runs of the limited queue ``request.only`` within its global ``concurrency`` and
    its ``limiter`` (at most n first claims, "starts", in any window of that many seconds).

    A run holds a slot from its first claim to its end, parked or not (``hold_while_parked``,
    the default: a queue with concurrency 1 is then a lock around a recv, a sleep or a child's
    wait), so runs that already hold one (woken, or recovered from a dead worker) are always
    leased and new ones only while slots are free. Otherwise only running runs hold slots.
    Claims on one queue are serialized by its row in ``QueueLock`` (portable: no advisory lock),
    so two workers cannot both count the same free slot or the same start in the window."""
    name = request.only or ""
    _ensure_queue_lock(name)
    with writelock.atomic(db()):
        if not QueueLock.objects.using(db()).select_for_update().filter(name=name).exists():
            _queue_locks.discard(name)  # deleted meanwhile: made again before the next claim
            return ()
        now = timezone.now()
        queued = _runs().filter(queue=name)
        fresh: int | None = None
        if concurrency is not None and hold_while_parked:
            fresh = concurrency - queued.filter(started_at__isnull=False).exclude(status__in=TERMINAL).count()
        elif concurrency is not None:
            running = queued.filter(status=Status.RUNNING, ready_at__gt=now).count()
            request = replace(request, limit=min(request.limit, concurrency - running))
        if limiter is not None:
            starts, seconds = limiter
            since = now - timedelta(seconds=seconds)
            room = starts - queued.filter(started_at__isnull=False, started_at__gt=since).count()
            fresh = room if fresh is None else min(fresh, room)
        return _claim_orm(request, fresh_slots=fresh) if request.limit > 0 else ()


_queue_locks: set[str] = set()  # the QueueLock rows this process has made sure exist


def _ensure_queue_lock(name: str) -> None:
    """Create the queue's lock row on its own, before any claim's transaction: two workers
    creating it inside theirs could not see each other's row (both snapshots predate it), and
    one would fail with a duplicate key instead of waiting for the lock."""
    if name not in _queue_locks:
        QueueLock.objects.using(db()).bulk_create([QueueLock(name=name)], ignore_conflicts=True)
        _queue_locks.add(name)


def _claim_orm(request: ClaimRequest, fresh_slots: int | None = None) -> tuple[ClaimedRun, ...]:
    """With ``fresh_slots``, runs that started before come first and any number of them is
    leased; runs that never started take at most ``fresh_slots``. Without it, SQLite takes the
    plain statements (``sqlitesql.claim``) for every caller: the loop's, a run's end, a queue's."""
    now = timezone.now()
    if request.look_first and _sqlite_idle(now):
        return ()
    if fresh_slots is None and connections[db()].vendor == "sqlite":
        return sqlitesql.claim(db(), request)

    def pick(qs: Any, n: int) -> list[dict[str, Any]]:
        if n <= 0:
            return []
        if request.only is not None:
            qs = qs.filter(queue=request.only)
        elif request.queues is not None:
            qs = qs.filter(queue__in=request.queues)
        if request.exclude:
            qs = qs.exclude(queue__in=request.exclude)
        if request.version is not None:  # started runs only on workers of their version
            qs = qs.filter(Q(started_at__isnull=True) | Q(app_version__in=(request.version, "")))
        if request.started_only:
            qs = qs.filter(started_at__isnull=False)
        return list(qs.select_for_update(skip_locked=True, no_key=True).values(*CLAIMED_FIELDS)[:n])

    with writelock.atomic(db(), savepoint=False):  # inside a caller's (a run's end), its failure is theirs
        picked = pick(_runs().due(now), request.limit)  # back from a wait
        if request.takeover:
            picked += pick(_runs().expired(now), request.limit - len(picked))  # a dead worker's
        enqueued = _runs().enqueued(now)
        if fresh_slots is None:
            picked += pick(enqueued, request.limit - len(picked))
        else:
            picked += pick(enqueued.filter(started_at__isnull=False), request.limit - len(picked))
            picked += pick(enqueued.filter(started_at__isnull=True), min(fresh_slots, request.limit - len(picked)))
        if not picked:
            return ()
        _relaxed_commit()
        version = {} if request.version is None else {"app_version": request.version}
        _set(
            _runs().filter(id__in=[r["id"] for r in picked]),
            updated_at=now,
            status=Status.RUNNING,
            lease_owner=request.owner,
            ready_at=now + request.lease,
            wait_topic=None,
            wait_until=None,
            started_at=Case(When(started_at__isnull=True, then=now), default=F("started_at")),
            recovery_attempts=Case(
                When(status=Status.RUNNING, then=F("recovery_attempts") + 1), default=F("recovery_attempts")
            ),
            **version,
        )
    return tuple(
        ClaimedRun(**{**r, "recovery_attempts": r["recovery_attempts"] + (r["status"] == Status.RUNNING)})
        for r in picked
    )


def _sqlite_idle(now: datetime) -> bool:
    """SQLite: whether nothing is runnable, read without the write lock. SQLite has one writer
    at a time, and ``transaction_mode`` IMMEDIATE takes the lock at BEGIN, so a claim that finds
    nothing (after every run, its thread and the loop look for more) would still make each
    start, send and step that comes meanwhile wait for it, sleeping in the busy handler's steps
    of 1, 2, 5, 10 ms and more. A run made runnable after this read is no lost wake-up: its
    start or send wakes the workers once it commits (``notify``), and they claim again."""
    return _sqlite_outside_transaction() and not sqlitesql.runnable(db(), now)


def _sqlite_outside_transaction() -> bool:
    """Whether a read now would take no lock that a writer waits for: SQLite (WAL) outside a transaction."""
    conn = connections[db()]
    return conn.vendor == "sqlite" and not conn.in_atomic_block


@_retried  # a renewal lost to a serialization failure would let the lease run out
def renew(run_ids: list[str], owner: str, lease_until: datetime) -> set[str]:
    """Extend the lease on the runs ``owner`` still holds; return their ids."""
    if _pg():
        return pgsql.renew(db(), run_ids, owner, lease_until)
    held = _runs().filter(id__in=run_ids).held_by(owner)
    with writelock.turn(db()):
        _set(held, ready_at=lease_until)
        return set(held.values_list("id", flat=True))


@_retried
def holds(run_id: str, owner: str) -> bool:
    """Whether ``owner`` still holds the run: it was not cancelled or taken over."""
    if _pg():
        return pgsql.held(db(), run_id, owner)
    return bool(_runs().filter(id=run_id).held_by(owner).exists())


@_retried
def release(run_ids: list[str], owner: str, unstarted: bool = False) -> int:
    """Hand runs back, runnable at once by any worker (a draining worker, a queue limit learnt
    late). ``unstarted``: they never began executing, so they hold no queue slot either."""
    now = timezone.now()
    held = _runs().filter(id__in=run_ids).held_by(owner)
    fields: dict[str, Any] = {"started_at": None} if unstarted else {}
    with writelock.turn(db()):
        return _set(held, updated_at=now, status=Status.ENQUEUED, lease_owner="", ready_at=now, **fields)


# --- checkpoints --------------------------------------------------------------------------


@_retried
def write_checkpoint(cp: Checkpoint, owner: str) -> bool:
    """Insert ``cp`` and tell whether ``owner`` still holds the run: one statement, shared with
    the checkpoints other threads write meanwhile (``groupcommit``). IntegrityError: the seq was
    recorded already (by another worker that took the run over)."""
    if not connections[db()].in_atomic_block:
        return groupcommit.writer(db()).write(cp, owner)
    # Inside the caller's transaction: commits or rolls back with it.
    if _pg():
        return pgsql.insert_checkpoint(db(), cp, owner)
    return sqlitesql.insert_checkpoint(db(), cp, owner)


@_retried
def complete_checkpoint(cp: Checkpoint, output: str | None, error: str | None = None) -> bool:
    """Complete a checkpoint recorded as pending (a recv, sleep or wait that parked); False if
    it was completed already (by another worker that took the run over)."""
    now = timezone.now()
    pending = Checkpoint.objects.using(db()).filter(pk=cp.pk, finished_at__isnull=True)
    with writelock.turn(db()):
        done = pending.update(output=output, error=error, finished_at=now)
    if done:
        cp.output, cp.error, cp.finished_at = output, error, now
    return bool(done)


def history(run_id: str) -> dict[int, Checkpoint]:
    return {cp.seq: cp for cp in Checkpoint.objects.using(db()).filter(run_id=run_id)}


# --- parking and waking -------------------------------------------------------------------


class NotHeld(Exception):
    """The run is no longer the caller's: cancelled, or taken over by another worker."""


class MessagesPending:
    """The readiness of a recv: a message is pending on ``topic`` for the run."""

    def __init__(self, run_id: str, topic: str) -> None:
        self.run_id, self.topic = run_id, topic

    def __call__(self) -> bool:
        return bool(pending_messages(self.run_id, self.topic).exists())


@_retried
def park(
    run_id: str,
    owner: str,
    topic: str | None,
    deadline: datetime | None,
    ready: Callable[[], bool] | None = None,
    share: str | None = None,
    checkpoint: Checkpoint | None = None,
) -> bool:
    """Record that the run waits for ``topic`` and/or ``deadline`` and give up its lease, unless
    ``ready()`` finds that what it waits for is there (then False). Runs under the run's row lock,
    which a wake-up takes too, so a wake-up between the check and the park cannot be lost. With
    ``share``, the row of the run whose doing ``ready`` reads is share-locked first, in that order,
    so that its writer (which locks its own row) cannot slip between the check and the park.
    ``checkpoint``, if not saved yet (a recv's or a wait's, pending), is recorded with the park."""
    try:
        with writelock.atomic(db()):
            _relaxed_commit()
            if share is not None:
                _share_lock(share)
            if not _runs().select_for_update(no_key=True).filter(id=run_id).held_by(owner).exists():
                raise NotHeld(run_id)
            if ready is not None and ready():
                return False
            if checkpoint is not None and checkpoint.pk is None:
                checkpoint.save(using=db(), force_insert=True)
            _set(
                _runs().filter(id=run_id),
                status=Status.WAITING,
                wait_topic=topic,
                wait_until=deadline,
                ready_at=deadline,
                lease_owner="",
            )
    except IntegrityError:
        if checkpoint is not None:
            checkpoint.pk = None
        raise NotHeld(run_id) from None  # another worker recorded the checkpoint's seq: it took the run over
    return True


def _share_lock(run_id: str) -> None:
    conn = connections[db()]
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM durable_workflowrun WHERE id = %s FOR SHARE", [run_id])


def lock(run_id: str) -> tuple[str, str | None] | None:
    """Take the run's row lock (inside a transaction); its (status, wait_topic), or None."""
    row = _runs().select_for_update(no_key=True).filter(id=run_id).values_list("status", "wait_topic").first()
    return row  # type: ignore[no-any-return]


def lock_own(run_id: str) -> None:
    """Lock the caller's own run row before publishing something others may be parked waiting
    for (an event): the waiter share-locks it while it checks, so the two are serialized."""
    _runs().select_for_update(no_key=True).filter(id=run_id).values_list("id").first()


def wake(run_id: str, topic: str) -> bool:
    """Make a run parked on ``topic`` runnable (inside a transaction holding its row lock)."""
    now = timezone.now()
    return bool(
        _set(
            _runs().filter(id=run_id, status=Status.WAITING, wait_topic=topic),
            updated_at=now,
            status=Status.ENQUEUED,
            ready_at=now,
            wait_topic=None,
            wait_until=None,
        )
    )


def wake_all(topic: str) -> int:
    """Make every run parked on ``topic`` runnable (inside the transaction that made it so)."""
    now = timezone.now()
    woken = _set(
        _runs().filter(status=Status.WAITING, wait_topic=topic),
        updated_at=now,
        status=Status.ENQUEUED,
        ready_at=now,
        wait_topic=None,
        wait_until=None,
    )
    if woken:
        notify.workers_after_commit()
    return woken


# --- messages -----------------------------------------------------------------------------


def deliver(run_id: str, topic: str, body: str, key: str | None, sender: str) -> bool | None:
    """Store a message for ``run_id`` and wake the run if it waits on ``topic``. False if ``key``
    was delivered before, None if there is no such run."""
    if _pg():
        return retry_rolled_back(db(), lambda: pgsql.deliver(db(), run_id, topic, body, key, sender, timezone.now()))
    with writelock.atomic(db()):
        row = lock(run_id)
        if row is None:
            return None
        msgs = Message.objects.using(db())
        if key is not None and msgs.filter(destination_id=run_id, idempotency_key=key).exists():
            return False
        msgs.create(destination_id=run_id, topic=topic, body=body, idempotency_key=key, sender=sender)
        if row == (Status.WAITING, topic) and wake(run_id, topic):
            notify.workers_after_commit()
    return True


def pending_messages(run_id: str, topic: str) -> Any:
    return Message.objects.using(db()).filter(destination_id=run_id, topic=topic, consumed_at__isnull=True)


@_retried
def consume(cp: Checkpoint, owner: str) -> tuple[str | None, bool]:
    """Take the oldest pending message on the recv ``cp``'s topic as its outcome (completing
    ``cp`` if pending, inserting it if not saved yet). Returns the message body (None: none
    waiting) and whether the checkpoint was written (False: the run is no longer ``owner``'s)."""
    if _pg():
        return pgsql.consume(db(), cp, owner, timezone.now())
    with writelock.atomic(db()):
        msg = pending_messages(cp.run_id, cp.name).order_by("id").only("id", "body").first()
        if msg is None:
            return None, True
        now = timezone.now()
        if cp.pk is None:  # found at once: the recv took no time
            cp.output, cp.started_at, cp.finished_at = msg.body, now, now
            if not write_checkpoint(cp, owner):
                transaction.set_rollback(True, using=db())
                return msg.body, False
        elif not complete_checkpoint(cp, msg.body):
            return msg.body, False
        pending_messages(cp.run_id, cp.name).filter(id=msg.id).update(consumed_at=now, consumed_seq=cp.seq)
    return msg.body, True


RECEIVE_REPEATS = 5  # the recv statement runs again when the row changed under it (see pgsql._RECEIVE)


def receive(cp: Checkpoint, owner: str, deadline: datetime | None, then: ClaimRequest | None = None) -> Received:
    """The recv ``cp`` (not done; saved as pending, or not saved yet): take the oldest pending
    message on its topic as its outcome, or park the run until one comes or ``deadline`` passes,
    recording ``cp`` as pending with the park. On PostgreSQL that is one statement, which also
    leases the runs ``then`` asks for when it parks; elsewhere a consume, then a park under the
    run's row lock that looks again. NotHeld: the run is no longer ``owner``'s."""
    if _pg():
        alone = False
        for _ in range(RECEIVE_REPEATS):
            try:
                received = retry_rolled_back(db(), functools.partial(_receive_once, cp, owner, deadline, then, alone))
            except pgsql.Changed as changed:
                alone = isinstance(changed, pgsql.Busy)  # wait for that lock without holding up the group
                continue
            if received is None:
                raise NotHeld(cp.run_id)
            return received
        # The row keeps changing (a burst of sends to a running run): the ORM's park holds the
        # lock while it looks, so it cannot be overtaken.
    while True:
        try:
            body, written = consume(cp, owner)
        except IntegrityError:
            raise NotHeld(cp.run_id) from None  # another worker recorded the recv: it took the run over
        if body is not None:
            if not written:
                raise NotHeld(cp.run_id)
            return Received(body, parked=False)
        if park(cp.run_id, owner, cp.name, deadline, MessagesPending(cp.run_id, cp.name), checkpoint=cp):
            return Received(None, parked=True)


def _receive_once(
    cp: Checkpoint, owner: str, deadline: datetime | None, then: ClaimRequest | None, alone: bool
) -> Received | None:
    """``pgsql.receive``, in one statement with the recvs other threads make meanwhile
    (``groupcommit``), unless ``alone``, inside the caller's transaction or looking for a dead
    worker's runs: such a look reads a dead index entry for every run parked since the last
    vacuum (tens of ms at 100,000), and the group's statements wait for each other."""
    if alone or connections[db()].in_atomic_block or (then is not None and then.takeover):
        return pgsql.receive(db(), cp, owner, deadline, then)
    return groupcommit.receiver(db()).receive(cp, owner, deadline, then)


def publish_event(run_id: str, key: str, value: str, seq: int) -> None:
    """Store an event value and wake runs parked waiting for it (inside the caller's transaction)."""
    lock_own(run_id)
    Event.objects.using(db()).create(run_id=run_id, key=key, value=value, seq=seq)
    wake_all(event_topic(run_id, key))


def event_topic(run_id: str, key: str) -> str:
    return f"durable.event:{run_id}:{key}"


# --- the end of a run -----------------------------------------------------------------------


def leases_with_end() -> bool:
    """Whether a run's end can also lease the thread's next run: in the same statement on
    PostgreSQL (as a recv's park does there), in the same transaction on SQLite (one write lock
    taken instead of two)."""
    return _pg() or connections[db()].vendor == "sqlite"


def finish(
    run_id: str,
    owner: str,
    parent_id: str | None,
    fields: dict[str, Any],
    pending: Checkpoint | None = None,
    then: ClaimRequest | None = None,
    operations: frozenset[str] | None = None,
) -> Finished:
    """Record a run's end (by the worker holding it) with its deferred last checkpoint, wake
    whoever waits on it, and lease the runs ``then`` asks for: in the same statement on
    PostgreSQL (without a parent), in the same transaction on SQLite. ``recorded`` is False if
    the run was no longer ``owner``'s. ``operations``: the names in the run's whole history, for
    ``run_finished`` (None: not known)."""
    now = timezone.now()
    values = dict(ready_at=None, lease_owner="", wait_topic=None, wait_until=None, finished_at=now, updated_at=now)
    values.update(fields)
    if not parent_id:
        topic, statements = end_topic(run_id), pgsql if _pg() else sqlitesql
        finished: Finished = retry_rolled_back(
            db(), lambda: statements.finish(db(), run_id, owner, values, pending, topic, then)
        )
        if finished.recorded:
            _finished(run_id, fields["status"], operations)
        return finished
    try:
        with writelock.atomic(db()):
            if pending is not None and not write_checkpoint(pending, owner):
                return Finished(False)
            if not _runs().filter(id=run_id).held_by(owner).update(**values):
                return Finished(False)
            if lock(parent_id) and wake(parent_id, end_topic(run_id)):
                notify.workers_after_commit()
            wake_all(end_topic(run_id))
            leased = _claim_orm(then) if then is not None and not _pg() else ()
    except IntegrityError:
        return Finished(False)  # another worker recorded the last step: the run is no longer ours
    _finished(run_id, fields["status"], operations)
    return Finished(True, leased, looked=then is not None and not _pg())


def _finished(run_id: str, status: str, operations: frozenset[str] | None) -> None:
    def send() -> None:
        signals.run_finished.send_robust(sender=WorkflowRun, run_id=run_id, status=status, operations=operations)

    transaction.on_commit(send, using=db())


# --- management -----------------------------------------------------------------------------


@_retried
def cancel(run_id: str, reason: str = "") -> list[str] | None:
    """Cancel the run and its unfinished descendants; a run that failed is marked cancelled too
    (its error is kept). Returns the ids cancelled (empty if it had succeeded or was cancelled
    already), None if there is no such run. Wakes anyone waiting on a cancelled run. ``reason``
    becomes the run's error message (why the engine cancelled it)."""
    with writelock.atomic(db()):
        row = lock(run_id)
        if row is None:
            return None
        if row[0] in (Status.SUCCESS, Status.CANCELLED):
            return []
        if reason:
            _set(_runs().filter(id=run_id), error_message=reason)
        ids = [run_id, *_unfinished_descendants(run_id)]
        now = timezone.now()
        for cancelled in ids:
            _set(
                _runs().filter(id=cancelled).exclude(status__in=(Status.SUCCESS, Status.CANCELLED)),
                updated_at=now,
                status=Status.CANCELLED,
                ready_at=None,
                wait_topic=None,
                wait_until=None,
                lease_owner="",
                finished_at=Case(When(finished_at__isnull=True, then=now), default=F("finished_at")),
            )
            parent = _runs().filter(id=cancelled).values_list("parent_id", flat=True).first()
            if parent and parent not in ids and lock(parent) and wake(parent, end_topic(cancelled)):
                notify.workers_after_commit()
            wake_all(end_topic(cancelled))
        for cancelled in ids:
            transaction.on_commit(_signal(signals.run_cancelled, cancelled), using=db())
    return ids


@_retried
def unpin_version(run_ids: list[str]) -> int:
    """Let any worker resume these unfinished runs (their version's workers are gone): the next
    claim replays them on the claimer's code and stamps its version. Returns how many."""
    unpinned = _set(_runs().filter(id__in=run_ids, status__in=UNFINISHED).exclude(app_version=""), app_version="")
    if unpinned:
        notify.workers_after_commit()
    return unpinned


def expire_timeouts(now: datetime, limit: int = 100) -> list[str]:
    """Cancel the runs whose workflow timeout has passed, with their children; the ids of the
    runs whose timeout this call fired (their children not listed).
    Found by the timeout index; a cancelled run leaves it, so each timeout fires once, however
    many workers look at the same moment (the cancel locks the row; the second finds it done)."""
    due = _runs().filter(timeout_at__lte=now, status__in=UNFINISHED).order_by("timeout_at")
    cancelled: list[str] = []
    for run_id, timeout_at in due.values_list("id", "timeout_at")[:limit]:
        reason = f"Cancelled: its workflow timeout passed at {timeout_at.isoformat()}."
        if cancel(run_id, reason):
            cancelled.append(run_id)
    return cancelled


def _signal(signal: Any, run_id: str) -> Callable[[], None]:
    return lambda: signal.send_robust(sender=WorkflowRun, run_id=run_id)


def _unfinished_descendants(run_id: str) -> list[str]:
    found: list[str] = []
    frontier = [run_id]
    while frontier:
        children = list(
            _runs().filter(parent_id__in=frontier).exclude(status__in=TERMINAL).values_list("id", flat=True)
        )
        found += children
        frontier = children
    return found


@_retried
def resume(run_id: str) -> str | None:
    """Make a cancelled, failed or parked run runnable again from its last checkpoint. Returns
    its status before, None if there is no such run."""
    with writelock.atomic(db()):
        row = lock(run_id)
        if row is None:
            return None
        if row[0] in (Status.CANCELLED, Status.ERROR, Status.WAITING):
            _set(
                _runs().filter(id=run_id),
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
            transaction.on_commit(
                lambda: signals.run_resumed.send_robust(sender=WorkflowRun, run_id=run_id), using=db()
            )
    return row[0]


@_retried
def fork(original: WorkflowRun, new_id: str, from_step: int) -> None:
    """Create ``new_id``: a run of the same workflow and inputs that keeps the original's
    checkpoints (and events and stream values) before operation ``from_step``."""
    with writelock.atomic(db()):
        now = timezone.now()
        _runs().create(
            id=new_id,
            name=original.name,
            target=original.target,
            inputs=original.inputs,
            queue=original.queue,
            priority=original.priority,
            forked_from=original.id,
            ready_at=now,
            created_at=now,
            max_recovery_attempts=original.max_recovery_attempts,
        )
        kept = Checkpoint.objects.using(db()).filter(run_id=original.id, seq__lt=from_step, finished_at__isnull=False)
        Checkpoint.objects.using(db()).bulk_create([_copy(cp, Checkpoint, run_id=new_id) for cp in kept])
        events = Event.objects.using(db()).filter(run_id=original.id, seq__lt=from_step)
        Event.objects.using(db()).bulk_create([_copy(e, Event, run_id=new_id) for e in events])
        streamed = StreamValue.objects.using(db()).filter(run_id=original.id, seq__lt=from_step)
        StreamValue.objects.using(db()).bulk_create([_copy(v, StreamValue, run_id=new_id) for v in streamed])
        notify.workers_after_commit()
        send = signals.run_forked.send_robust
        transaction.on_commit(
            lambda: send(sender=WorkflowRun, run_id=new_id, forked_from=original.id, from_step=from_step), using=db()
        )


def _copy(obj: Any, model: Any, **changes: Any) -> Any:
    fields = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.name not in ("id", "run")}
    return model(**fields, **changes)


def _relaxed_commit() -> None:
    """Let this transaction commit without waiting for the disk flush (PostgreSQL).

    Only for the engine's own bookkeeping that a database crash may lose without harm: a
    claim, a park, a consumed message. Losing one puts the run back where it was before, and
    replay repeats it. Anything the outside world can see (a start, a send, a step's result
    reported onward) is a normal commit, and a normal commit also flushes every commit before it.
    """
    conn = connections[db()]
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
