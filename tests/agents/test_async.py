"""``async def`` workflows and steps: checkpointed and replayed like plain ones, parked without a thread."""

import pytest

import durable
from durable.models import Checkpoint
from tests.agents import async_workflows as aw
from tests.durable.conftest import checkpoints, wait_status
from tests.workflows import ledger_lines

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_async_step_outside_a_workflow_is_a_plain_coroutine():
    import asyncio

    assert asyncio.run(aw.slow_double(4)) == 8
    assert not Checkpoint.objects.exists()


def test_an_async_workflow_checkpoints_each_async_step(worker, ledger):
    handle = durable.start(aw.async_doubles, 3)
    assert handle.result(timeout=15) == 12
    assert checkpoints(handle) == [(0, "step", "slow_double"), (1, "step", "slow_double")]


def test_an_async_workflow_parks_and_resumes_without_repeating_its_step(worker, ledger):
    handle = durable.start(aw.async_waits, "t")
    wait_status(handle, "WAITING")
    durable.send(handle.id, {"hello": 1}, topic="t")
    assert handle.result(timeout=15) == {"before": 2, "message": {"hello": 1}}
    assert len(ledger_lines("slow_double:")) == 1  # replayed after the park, not run again


def test_a_park_inside_a_task_group_parks_the_run(worker, ledger):
    handle = durable.start(aw.async_gathers, 5)
    wait_status(handle, "WAITING")
    durable.send(handle.id, 7, topic="go")
    assert handle.result(timeout=15) == [10, 7]


def test_an_async_step_is_retried_then_checkpointed(worker, ledger):
    handle = durable.start(aw.async_retries, "k")
    assert handle.result(timeout=15) == "ok"
    assert Checkpoint.objects.get(run_id=handle.id).attempts == 3


def test_a_plain_durable_call_on_the_event_loop_fails_with_the_fix(worker, ledger):
    handle = durable.start(aw.calls_recv_directly)
    with pytest.raises(Exception, match=r"through durable\.call_sync\(fn, \.\.\.\)"):
        handle.result(timeout=15)
