"""A worker renews the leases of the runs it executes: a step three times longer than the lease,
with a second worker waiting for a lease to expire, still runs exactly once."""

import pytest

import durable
from durable.models import Status, WorkflowRun
from tests.faults import agents
from tests.faults.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LEASE = 2.0
STEP_SECONDS = 3 * LEASE


def test_a_step_longer_than_the_lease_runs_once_with_a_second_worker_waiting(worker_processes, ledger):
    first = worker_processes.start(lease=LEASE, poll=0.1)
    handle = durable.start(agents.outlives_its_lease, STEP_SECONDS)
    wait_for(lambda: ledger.read_text(), 30, "the long step to start")
    owner = WorkflowRun.objects.get(id=handle.id).lease_owner
    second = worker_processes.start(lease=LEASE, poll=0.1)  # polls for expired leases all along

    assert handle.result(timeout=STEP_SECONDS + 30) == first.pid
    step = f"{handle.id}:0 long {first.pid}"
    assert ledger.read_text().splitlines() == [f"start {step}", f"end {step}"], (
        "the step ran again: the first worker's lease was not renewed while its step ran"
    )
    run = WorkflowRun.objects.get(id=handle.id)
    assert run.status == Status.SUCCESS and run.recovery_attempts == 0
    assert owner.split(":")[1] == str(first.pid)
    assert [p.poll() for p in (first, second)] == [None, None]
