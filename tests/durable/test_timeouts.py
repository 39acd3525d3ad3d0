"""Workflow timeouts (#15) against real worker processes on both databases: the deadline is on the
run's row, counts while the run is parked, cancels its children too, and fires once, even when it
passed while no worker ran."""

from datetime import timedelta

import pytest
from django.utils import timezone

import durable
from durable.models import WorkflowRun
from tests import workflows as w
from tests.durable import run_workflows as r
from tests.durable.conftest import run_of, wait_for, wait_started, wait_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def cancelled_by_timeout(logs, run_id):
    return logs.count(f"workflow run {run_id} cancelled: its workflow timeout passed")


def test_a_parked_run_and_its_child_are_cancelled_when_the_timeout_passes(worker_processes):
    worker_processes.start(concurrency=4, poll=0.05, lease=30)
    wait_started(worker_processes)
    # timeout= as the design names it: parent_of_parker has no timeout parameter of its own.
    parent = durable.start(r.parent_of_parker, "never", timeout=timedelta(seconds=1))
    child_id = f"{parent.id}-0"
    wait_status(parent, "WAITING")
    assert wait_status(durable.retrieve(child_id), "WAITING").timeout_at is None  # its own: none
    run = wait_status(parent, "CANCELLED")
    assert run.timeout_at - run.created_at == timedelta(seconds=1)
    assert "workflow timeout passed" in run.error_message
    assert run_of(child_id).status == "CANCELLED"  # cancelled with its parent
    with pytest.raises(durable.WorkflowCancelled):
        parent.result(timeout=5)


def test_the_workflows_own_timeout_is_the_default_and_start_overrides_it(worker_processes):
    worker_processes.start(concurrency=4, poll=0.05, lease=30)
    wait_started(worker_processes)
    default = durable.start(r.parks_with_default_timeout, "never")
    longer = durable.start(r.parks_with_default_timeout, "t", workflow_timeout=600)
    assert wait_status(default, "CANCELLED", timeout=20).timeout_at - run_of(default).created_at == timedelta(seconds=1)
    assert run_of(longer).timeout_at - run_of(longer).created_at == timedelta(seconds=600)
    durable.send(longer.id, "in time", topic="t")
    assert longer.result(timeout=20) == "in time"
    assert run_of(longer).status == "SUCCESS"


def test_a_timeout_that_passes_while_no_worker_runs_is_cancelled_once_on_restart(worker_processes, ledger):
    worker_processes.start(concurrency=4, poll=0.05, lease=30)
    wait_started(worker_processes)
    handles = [durable.start(w.parks, "never", workflow_timeout=8) for _ in range(5)]
    for handle in handles:
        wait_status(handle, "WAITING")
    worker_processes.stop_all()
    assert [run_of(h).status for h in handles] == ["WAITING"] * 5  # parked when the last worker stopped
    latest = max(run_of(h).timeout_at for h in handles)
    wait_for(lambda: timezone.now() > latest, 30, "the timeouts to pass with no worker running")
    for _ in range(2):  # two workers look for due timeouts at the same moments
        worker_processes.start(concurrency=4, poll=0.05, lease=30)
    for handle in handles:
        wait_status(handle, "CANCELLED")
    # A worker logs the cancel after it commits: wait for the lines, then count them.
    logged = lambda: all(cancelled_by_timeout(worker_processes.logs(), h.id) for h in handles)  # noqa: E731
    wait_for(logged, 30, "the workers to log the cancels")
    logs = worker_processes.logs()
    assert [cancelled_by_timeout(logs, h.id) for h in handles] == [1] * 5
    assert WorkflowRun.objects.filter(id__in=[h.id for h in handles], status="CANCELLED").count() == 5
