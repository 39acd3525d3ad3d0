"""Child workflows: started once from a workflow (checkpointed) and waited on by parking."""

import pytest

import durable
from durable.models import Checkpoint, WorkflowRun
from tests import workflows as w
from tests.durable.conftest import checkpoints, run_of, wait_for, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_child_is_started_exactly_once_across_replay(worker, ledger):
    parent = durable.start(w.parent_of_adder, 2, 3)
    wait_status(parent, "WAITING")
    durable.send(parent.id, "go", topic="go")  # the parent replays past its durable.start
    child_id, total = parent.result(timeout=10)
    assert total == 5
    children = WorkflowRun.objects.filter(parent_id=parent.id)
    assert [c.id for c in children] == [child_id]
    assert children[0].name == "tests.workflows.adder"
    assert w.ledger_lines("add:") == [f"add:{child_id}:2+3"]
    assert checkpoints(parent) == [
        (0, "start", "tests.workflows.adder"),
        (1, "recv", "go"),
        (2, "result", child_id),
    ]


def test_the_parent_parks_until_its_child_finishes(worker):
    parent = durable.start(w.parent_of_waiter, "answer")
    child = wait_for(lambda: WorkflowRun.objects.filter(parent_id=parent.id).first(), what="the child to start")
    wait_status(child, "WAITING")
    run = wait_status(parent, "WAITING")
    assert run.wait_topic == f"durable.child:{child.id}" and run.wait_until is None
    wait_for(lambda: not worker.inflight, what="the worker to let go of parent and child")

    durable.send(child.id, "42", topic="answer")
    assert parent.result(timeout=10) == [child.id, "42"]
    assert Checkpoint.objects.get(run_id=parent.id, kind="result").output == '"42"'


def test_a_failing_child_raises_its_exception_in_the_parent(worker):
    parent = durable.start(w.parent_of_failure)
    assert parent.result(timeout=10) == "caught child said no"
    child = WorkflowRun.objects.get(parent_id=parent.id)
    assert child.status == "ERROR"


def test_cancelling_the_child_wakes_the_parent_with_workflow_cancelled(worker):
    parent = durable.start(w.parent_of_waiter, "answer")
    child = wait_for(lambda: WorkflowRun.objects.filter(parent_id=parent.id).first(), what="the child to start")
    wait_status(parent, "WAITING")
    durable.cancel(child.id)
    with pytest.raises(durable.WorkflowCancelled, match=child.id):
        parent.result(timeout=10)
    assert run_of(parent).status == "ERROR"
