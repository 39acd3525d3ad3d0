"""Runs whose worker died are taken over by a claim that looks for them; a busy worker's threads,
which lease their next run with each end or park, look once a poll interval, so a backlog never
starves a dead worker's runs."""

from datetime import timedelta

import pytest
from django.utils import timezone

import durable
from durable import store
from durable.models import Status, WorkflowRun
from durable.records import ClaimRequest
from durable.worker import Worker
from tests import workflows as w
from tests.durable.conftest import leased_by_end, running_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

LEASE = timedelta(seconds=30)


@pytest.fixture
def unlimited(monkeypatch):
    """No queue limits (the test suite declares some): a thread leases its next run with every
    end, none left to the limited queues' turn (``test_queues``), as in an application without them."""
    monkeypatch.setattr("durable.worker.limited_queues", lambda: [])


def _dead_workers_run() -> str:
    """A run claimed by a worker that died: its lease ran out a second ago."""
    handle = durable.start(w.three_steps)
    [run] = Worker(concurrency=1).claim(1)
    WorkflowRun.objects.filter(id=run.id).update(ready_at=timezone.now() - timedelta(seconds=1))
    return handle.id


def test_a_claim_without_takeover_leaves_a_dead_workers_run_and_the_next_claim_takes_it_first():
    dead = _dead_workers_run()
    fresh = durable.start(w.three_steps).id
    [leased] = store.claim(ClaimRequest("busy", LEASE, 2, takeover=False))
    assert leased.id == fresh and not leased.recovered
    [taken] = store.claim(ClaimRequest("other", LEASE, 2))
    assert taken.id == dead and taken.recovered and taken.recovery_attempts == 1
    assert WorkflowRun.objects.get(id=dead).lease_owner == "other"


def test_a_thread_leasing_with_its_runs_ends_looks_for_dead_workers_runs_once_a_poll_interval_or_while_found(
    unlimited,
):
    seldom, always = Worker(poll_interval=3600), Worker(poll_interval=0)
    looks = [request.takeover for request in (seldom._claim_with_end(), seldom._claim_with_end())]
    assert looks == [True, False]
    assert all(always._claim_with_end().takeover for _ in range(3))
    # A claim that found a dead worker's run: the next lease looks for more at once.
    dead = _dead_workers_run()
    [taken] = seldom.claim(1)
    assert taken.id == dead and taken.recovered
    assert seldom._claim_with_end().takeover


def test_a_worker_busy_with_a_backlog_takes_over_a_dead_workers_run_before_the_backlog_ends(unlimited):
    handle = durable.start(w.three_steps)
    [run] = Worker(concurrency=1).claim(1)  # its worker dies now; its lease has yet to run out
    backlog = [durable.start(w.busy_run, f"b{i}", 0.05).id for i in range(40)]
    queued = WorkflowRun.objects.filter(id__in=backlog, status=Status.ENQUEUED)
    # One thread, which leases each next backlog run with the previous one's end: the loop has no
    # free thread to claim for, so only those leases can take the dead worker's run over.
    with running_worker(concurrency=1, poll_interval=0.1):
        wait_for(lambda: queued.count() < len(backlog) - 2, what="the thread to chain through the backlog")
        WorkflowRun.objects.filter(id=run.id).update(ready_at=timezone.now() - timedelta(seconds=1))
        assert handle.result(timeout=30) == ["a", "b", "c"]
        left = queued.count()
    assert left > 0, "the dead worker's run waited for the whole backlog"


@pytest.mark.parametrize("takeover", [False, True])
def test_the_run_leased_with_a_runs_end_is_the_highest_priority_one_with_or_without_takeover(takeover):
    first = durable.start(w.three_steps)
    worker = Worker(concurrency=1)
    [run] = worker.claim(1)
    assert run.id == first.id
    durable.start(w.three_steps)
    urgent = durable.start(w.three_steps, priority=-1)  # started later, to go before priority 0
    assert leased_by_end(worker, run, ClaimRequest(worker.id, LEASE, 1, takeover=takeover)) == [urgent.id]
