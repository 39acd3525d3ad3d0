"""durable.Queue: a global concurrency limit across workers, a per-worker limit, priorities, and
limited queues served beside a backlog on the others."""

import pytest

import durable
from durable.models import WorkflowRun
from durable.worker import Worker
from tests import workflows as w
from tests.durable.conftest import concurrency_from_ledger, leased_by_end, running_worker, wait_for, wait_started

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_global_limit_holds_across_two_worker_processes(worker_processes, ledger, monkeypatch):
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "tests.durable.worker_settings")
    worker_processes.start(concurrency=4, poll=0.05)
    worker_processes.start(concurrency=4, poll=0.05)
    wait_started(worker_processes, 2)
    handles = [w.limited.enqueue(w.busy_run, f"job{i}", 0.3) for i in range(8)]

    peak_running = 0
    queued = WorkflowRun.objects.filter(queue="tests-limited")

    def all_done():
        nonlocal peak_running
        peak_running = max(peak_running, queued.filter(status="RUNNING").count())
        return not queued.exclude(status="SUCCESS").exists()

    wait_for(all_done, 60, "the limited queue to drain")
    assert [h.result(timeout=1) for h in handles] == [f"job{i}" for i in range(8)]
    assert peak_running <= 2
    assert concurrency_from_ledger(w.ledger_lines()) == 2, "never more than 2 at once, and the limit is used"


def test_a_worker_learns_a_queue_limit_from_the_workflow_module_it_imports(worker_processes, ledger):
    # No DURABLE_IMPORTS: the worker has never imported tests.workflows when the runs arrive.
    worker_processes.start(concurrency=8, poll=0.05)
    wait_started(worker_processes, 1)
    handles = [w.limited.enqueue(w.busy_run, f"job{i}", 0.2) for i in range(6)]
    assert [h.result(timeout=60) for h in handles] == [f"job{i}" for i in range(6)]
    assert concurrency_from_ledger(w.ledger_lines()) == 2


def test_worker_concurrency_limits_each_worker(ledger):
    handles = [w.one_per_worker.enqueue(w.busy_run, f"job{i}", 0.1) for i in range(4)]
    with running_worker(concurrency=8):
        for h in handles:
            h.result(timeout=20)
    assert concurrency_from_ledger(w.ledger_lines()) == 1


def test_lower_priority_numbers_run_first(ledger):
    for label, priority in [("p5", 5), ("p1", 1), ("p3", 3), ("p0", 0), ("p2", 2), ("p4", 4)]:
        durable.start(w.busy_run, label, 0, priority=priority)
    with running_worker(concurrency=1):
        wait_for(lambda: not WorkflowRun.objects.exclude(status="SUCCESS").exists(), 20, "all runs")
    started = [line.split()[1] for line in w.ledger_lines("start ")]
    assert started == ["p0", "p1", "p2", "p3", "p4", "p5"]


def test_equal_priorities_run_in_arrival_order(ledger):
    labels = [f"job{i}" for i in range(5)]
    for label in labels:
        w.one_per_worker.enqueue(w.busy_run, label, 0, priority=1)
    with running_worker(concurrency=1):
        wait_for(lambda: not WorkflowRun.objects.exclude(status="SUCCESS").exists(), 20, "all runs")
    assert [line.split()[1] for line in w.ledger_lines("start ")] == labels


def test_a_run_records_its_queue():
    handle = w.limited.enqueue(w.adder, 1, 2)
    assert WorkflowRun.objects.get(id=handle.id).queue == "tests-limited"
    assert WorkflowRun.objects.get(id=durable.start(w.adder, 1, 2, queue="custom").id).queue == "custom"
    assert WorkflowRun.objects.get(id=durable.start(w.adder, 1, 2).id).queue == "default"


def test_a_worker_restricted_to_a_queue_ignores_the_others():
    other = durable.start(w.adder, 1, 1, queue="elsewhere")
    mine = durable.start(w.adder, 2, 2, queue="mine")
    with running_worker(queues=["mine"]):
        assert mine.result(timeout=10) == 4
    assert other.status() == "ENQUEUED"


@pytest.mark.parametrize("limits", [{"concurrency": 0}, {"worker_concurrency": -1}])
def test_queue_limits_must_be_positive(limits):
    with pytest.raises(ValueError, match="must be at least 1"):
        durable.Queue("bad", **limits)


@pytest.mark.parametrize("limits", [{"concurrency": 1}, {"limiter": (10, 60)}])
def test_the_default_queue_cannot_be_limited_and_the_error_says_what_to_declare_instead(limits):
    with pytest.raises(ValueError, match=r"Declare a queue of its own .* durable\.Queue\('emails', concurrency=5\)"):
        durable.Queue("default", **limits)


def test_a_backlog_on_the_default_queue_does_not_starve_a_limited_queue():
    backlog = [durable.start(w.busy_run, f"b{i}", 0.05).id for i in range(40)]
    queued = WorkflowRun.objects.filter(id__in=backlog, status="ENQUEUED")
    # One thread, busy with the backlog from the first claim on: the loop never has a free thread
    # to claim for, so only the thread's own claims can take the limited queue's run.
    with running_worker(concurrency=1, poll_interval=0.1):
        wait_for(lambda: queued.count() < len(backlog) - 2, what="the thread to work through the backlog")
        handle = w.limited.enqueue(w.three_steps)
        assert handle.result(timeout=30) == ["a", "b", "c"]
        left = queued.count()
    assert left > 0, "the limited queue's run waited for the whole default backlog"


def test_with_limited_queues_declared_a_runs_end_still_leases_the_next_run_of_the_others():
    worker = Worker(concurrency=1, poll_interval=3600)
    durable.start(w.three_steps)
    [run] = worker.claim(1)
    w.limited.enqueue(w.three_steps)  # older, but a limited queue's claim counts its slots
    following = durable.start(w.three_steps)
    assert worker._claim_with_end() is None  # a poll interval's first end: the limited queues' turn
    assert leased_by_end(worker, run, worker._claim_with_end()) == [following.id]
