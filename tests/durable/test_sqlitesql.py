"""SQLite's hot path: checkpoints queued meanwhile share one transaction, and a run's end writes
its last checkpoint, its row, its waiters' wake-up and the thread's next lease in one."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection
from django.db.backends.signals import connection_created
from django.utils import timezone

import durable
from durable import groupcommit, sqlitesql, writelock
from durable.context import RunContext
from durable.execution import execute
from durable.models import Checkpoint, WorkflowRun
from durable.records import ClaimRequest
from durable.worker import Worker
from tests import workflows as w
from tests.durable.conftest import held_run, wait_for, write_in_thread, writing_alone

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def sqlite_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's statements (PostgreSQL's are in test_pgsql.py)")


@pytest.fixture
def writes_seen():
    """The transactions begun and the checkpoints inserted by the writer threads, in order."""
    seen: list[tuple[str, str]] = []

    def spy(execute, sql, params, many, context):
        if not threading.current_thread().name.startswith("writer-"):
            pass  # another test's thread still closing
        elif sql.startswith("BEGIN"):
            seen.append((threading.current_thread().name, "BEGIN"))
        elif sql.startswith("INSERT INTO durable_checkpoint"):
            seen.append((threading.current_thread().name, params[0]))
        return execute(sql, params, many, context)

    def install(sender, connection, **kwargs):
        connection.execute_wrappers.append(spy)

    connection_created.connect(install)
    yield seen
    connection_created.disconnect(install)


def test_checkpoints_queued_while_one_is_written_share_one_transaction_each_with_its_own_outcome(writes_seen):
    first, taken, lost, fine = [held_run("me") for _ in range(4)]
    Checkpoint.objects.create(run_id=taken, seq=0, kind="step", name="s", output="null")  # another worker's
    WorkflowRun.objects.filter(id=lost).update(lease_owner="someone else")
    results: dict = {}
    with writelock.turn("default"):  # the first write waits for its turn; the others queue behind it
        threads = [write_in_thread(first, 0, "me", results)]
        wait_for(writing_alone, what="the first checkpoint's write to start")
        threads += [write_in_thread(run_id, 0, "me", results) for run_id in (taken, lost, fine)]
        wait_for(lambda: len(groupcommit.writer("default").queue) >= 3, what="three queued checkpoints")
    for thread in threads:
        thread.join(timeout=10)
    assert results[first] is True and results[fine] is True
    assert results[lost] is False  # recorded, but the run is no longer ours: the run stops
    assert isinstance(results[taken], IntegrityError)
    assert Checkpoint.objects.filter(run_id=fine, seq=0).exists()
    assert Checkpoint.objects.filter(run_id=lost, seq=0).exists()
    # The three queued inserts were written by one thread in one transaction.
    assert [what for _, what in writes_seen] == ["BEGIN", first, "BEGIN", taken, lost, fine]
    assert len({thread for thread, _ in writes_seen[2:]}) == 1


def test_a_three_step_run_costs_three_transactions_and_its_end_leases_the_next_run_of_its_queues(
    django_assert_num_queries,
):
    first = durable.start(w.three_steps)
    durable.start(w.three_steps, queue="elsewhere")  # not this worker's queues
    second = durable.start(w.three_steps)
    worker = Worker(concurrency=1)
    [run] = worker.claim(1)
    ctx = RunContext(run_id=run.id, owner=worker.id, checkpoints={})
    ctx.then = ClaimRequest(worker.id, timedelta(seconds=30), 2, queues=("default",))
    ctx.confirmed_at = time.monotonic() + 60  # as just after the claim, however slow this machine is
    # Three transactions (BEGIN and COMMIT each): two steps' checkpoints, each with its lease
    # check; the run's end: the last checkpoint and its lease check, the run's row, its waiters,
    # the claim's read and its lease. The inbox's run_finished receiver reads nothing: the run
    # asked nobody (its history has no inbox.publish_request step).
    with django_assert_num_queries(3 * 2 + 2 * 2 + 6):
        outcome = execute(run, ctx)
    assert outcome.kind == "succeeded"
    assert [r.id for r in outcome.leased] == [second.id]
    [leased] = outcome.leased
    assert leased.started_at is None and leased.recovery_attempts == 0
    assert first.result(timeout=1) == ["a", "b", "c"]
    row = WorkflowRun.objects.get(id=second.id)
    assert (row.status, row.lease_owner) == ("RUNNING", worker.id)
    assert row.started_at is not None and row.ready_at > row.updated_at  # leased for 30 s from now


def test_a_run_taken_over_is_claimed_again_with_its_start_and_one_more_recovery_attempt():
    handle = durable.start(w.three_steps)
    dead = Worker(concurrency=1)
    [run] = dead.claim(1)
    started = WorkflowRun.objects.get(id=handle.id).started_at
    WorkflowRun.objects.filter(id=handle.id).update(ready_at=started - timedelta(seconds=1))  # its lease ran out
    [again] = Worker(concurrency=1).claim(1)
    assert again.id == run.id and again.recovered and again.recovery_attempts == 1
    assert again.started_at == started
    assert WorkflowRun.objects.get(id=handle.id).started_at == started


def test_a_worker_looks_outside_the_write_lock_for_runnable_runs_and_finds_each_kind():
    def runnable() -> bool:
        return sqlitesql.runnable("default", timezone.now())

    now = timezone.now()
    parked = durable.start(w.parks, "a").id
    WorkflowRun.objects.filter(id=parked).update(status="WAITING", ready_at=now + timedelta(hours=1))
    assert not runnable(), "a run parked until later is not runnable"
    for status, ready_at in [("WAITING", now), ("RUNNING", now - timedelta(seconds=1)), ("ENQUEUED", now)]:
        WorkflowRun.objects.filter(id=parked).update(status=status, ready_at=ready_at)
        assert runnable(), f"a {status} run ready at {ready_at} is runnable"
    WorkflowRun.objects.filter(id=parked).update(status="RUNNING", ready_at=now + timedelta(seconds=30))
    assert not runnable(), "a run under a live lease is not runnable"
