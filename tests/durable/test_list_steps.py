"""durable.list_steps (issue #15): a run's operations as values, from outside and (recorded) inside."""

import pytest

import durable
from durable.models import Checkpoint
from tests.durable import stream_workflows as s
from tests.durable.conftest import wait_started, wait_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def workers(worker_processes, ledger):
    worker_processes.start(concurrency=2, poll=0.05, lease=30)
    wait_started(worker_processes)
    return worker_processes


def test_each_operation_with_its_status_output_error_attempts_and_times(workers):
    handle = durable.start(s.many_kinds, "once")
    wait_status(handle, "WAITING")
    step, event, recv = durable.list_steps(handle.id)
    assert (step.seq, step.kind, step.name, step.status) == (0, "step", "fails_once", "succeeded")
    assert (step.output, step.error, step.attempts) == ("once done", None, 2)
    assert step.started_at <= step.finished_at
    assert (event.kind, event.name, event.status, event.output) == ("set_event", "progress", "succeeded", None)
    assert (recv.seq, recv.kind, recv.name, recv.status, recv.finished_at) == (2, "recv", "go", "pending", None)
    durable.send(handle.id, {"say": "hi"}, topic="go")
    assert handle.result(timeout=20) == ["once done", {"say": "hi"}]
    steps = durable.list_steps(handle.id)
    assert [(i.seq, i.status) for i in steps] == [(0, "succeeded"), (1, "succeeded"), (2, "succeeded"), (3, "failed")]
    assert steps[2].output == {"say": "hi"}
    failed = steps[3]
    assert (failed.name, failed.output, failed.attempts) == ("always_fails", None, 1)
    assert (type(failed.error), failed.error.args) == (KeyError, ("missing",))
    assert all(isinstance(i, durable.StepInfo) for i in steps)
    with pytest.raises(AttributeError):
        failed.status = "succeeded"  # frozen


def test_inside_a_workflow_it_is_a_recorded_read(workers, ledger):
    handle = durable.start(s.lists_own_steps)
    wait_status(handle, "WAITING")
    durable.send(handle.id, "go", topic="go")  # the run replays its list_steps, now with more operations
    assert handle.result(timeout=20) == [(0, "step", "add", "succeeded", 3)]
    cp = Checkpoint.objects.get(run_id=handle.id, seq=1)
    assert (cp.kind, cp.name) == ("read", "list_steps:self")
    assert [i.kind for i in durable.list_steps(handle.id)] == ["step", "read", "recv"]


def test_an_unknown_run_is_named(db):
    with pytest.raises(durable.WorkflowNotFound, match="no-such-run"):
        durable.list_steps("no-such-run")
