"""Queue rate limits and deduplication (#15) on both databases: a limiter caps the starts of a
queue in any window across two worker processes; a deduplication id refuses a second unfinished
run of the same queue with a clear error."""

from datetime import timedelta

import pytest

import durable
from durable.models import WorkflowRun
from tests import workflows as w
from tests.durable import run_workflows as r
from tests.durable.conftest import run_of, wait_started

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.mark.slow
def test_a_limited_queue_starts_at_most_n_runs_in_any_window_across_workers(worker_processes, ledger, monkeypatch):
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "tests.durable.run_settings")  # the workers know the limiter
    for _ in range(2):
        worker_processes.start(concurrency=4, poll=0.05, lease=30)
    wait_started(worker_processes, 2)
    handles = [r.limited_rate.enqueue(r.rate_limited, f"run-{i}") for i in range(9)]
    assert sorted(h.result(timeout=60) for h in handles) == sorted(f"run-{i}" for i in range(9))
    starts = sorted(run_of(h).started_at for h in handles)
    n, seconds = r.limited_rate.limiter
    # No n + 1 starts fall within one window: each start is a window after the one n before it.
    assert all(later - earlier >= timedelta(seconds=seconds) for earlier, later in zip(starts, starts[n:]))
    assert len(w.ledger_lines("start ")) == 9


def test_a_second_enqueue_with_the_same_deduplication_id_is_refused_while_the_first_is_unfinished():
    first = r.dedup.enqueue(w.parks, "a", deduplication_id="order-1")
    with pytest.raises(durable.QueueDeduplicated, match=rf"already has an unfinished run \({first.id}\)"):
        r.dedup.enqueue(w.parks, "b", deduplication_id="order-1")
    # Starting the same workflow id again is still the idempotent start, not a duplicate.
    assert r.dedup.enqueue(w.parks, "a", workflow_id=first.id, deduplication_id="order-1") == first
    other_queue = durable.start(w.parks, "c", queue="tests-other", deduplication_id="order-1")
    assert run_of(other_queue).deduplication_id == "order-1"
    assert WorkflowRun.objects.filter(deduplication_id="order-1", queue="tests-dedup").count() == 1
    durable.cancel(first.id)  # finished: the id is free again
    again = r.dedup.enqueue(w.parks, "d", deduplication_id="order-1")
    assert again != first and run_of(again).status == "ENQUEUED"


def test_a_deduplication_id_is_free_again_once_its_run_succeeded(worker):
    first = r.dedup.enqueue(w.adder, 1, 2, deduplication_id="job")
    assert first.result(timeout=20) == 3
    assert r.dedup.enqueue(w.adder, 2, 3, deduplication_id="job").result(timeout=20) == 5


def test_a_refused_duplicate_leaves_the_callers_transaction_usable():
    from django.db import transaction

    with transaction.atomic():
        first = r.dedup.enqueue(w.parks, "a", deduplication_id="tx")
        with pytest.raises(durable.QueueDeduplicated):
            r.dedup.enqueue(w.parks, "b", deduplication_id="tx")
        second = durable.start(w.parks, "c")  # the transaction goes on
    assert {run_of(first).status, run_of(second).status} == {"ENQUEUED"}


def test_a_limiter_must_be_starts_per_seconds():
    with pytest.raises(ValueError, match=r"limiter must be \(starts, seconds\)"):
        durable.Queue("tests-bad-limiter", limiter=(0, 30))
