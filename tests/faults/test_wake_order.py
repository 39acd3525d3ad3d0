"""A run woken with a backlog of messages gets them oldest first, the first through the claim that
wakes it (on PostgreSQL the claim statement itself completes the ``recv``)."""

import pytest

import durable
from durable.models import Status, WorkflowRun
from tests.faults import agents
from tests.faults.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]

BACKLOG = 5


def test_a_run_woken_with_a_backlog_receives_it_oldest_first(worker_processes):
    worker_processes.start(poll=0.1)
    handle = durable.start(agents.reads_backlog, BACKLOG)
    wait_for(
        lambda: WorkflowRun.objects.filter(id=handle.id, status=Status.WAITING, wait_topic="backlog").exists(),
        30,
        "the run to park in its first recv",
    )
    worker_processes.stop_all()  # no worker: the whole backlog arrives before the run is claimed
    for n in range(BACKLOG):
        durable.send(handle.id, f"m{n}", topic="backlog")
    assert WorkflowRun.objects.get(id=handle.id).status != Status.RUNNING

    worker_processes.start(poll=0.1)
    assert handle.result(timeout=30) == [f"m{n}" for n in range(BACKLOG)]
