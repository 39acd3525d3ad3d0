"""durable.start, handles, idempotent ids, importability and serialization checks."""

import dataclasses

import pytest

import durable
from durable.models import WorkflowRun
from tests import workflows as w
from tests.durable.conftest import run_of

pytestmark = pytest.mark.django_db(transaction=True)


@dataclasses.dataclass
class Order:
    sku: str
    quantity: int


def test_start_returns_at_once_with_an_enqueued_run():
    handle = durable.start(w.adder, 1, 2)
    run = run_of(handle)
    assert run.status == handle.status() == "ENQUEUED"
    assert run.name == "tests.workflows.adder"
    assert run.target == "tests.workflows:adder"
    assert run.args == (1, 2)
    assert run.kwargs == {}


def test_result_waits_for_the_worker(worker):
    handle = durable.start(w.adder, 20, 22)
    assert handle.result(timeout=10) == 42
    assert handle.status() == "SUCCESS"


def test_arguments_and_results_round_trip_python_objects(worker):
    order = Order("tea", 3)
    handle = durable.start(w.collect, "orders", 1, timeout=10)
    durable.send(handle.id, order, topic="orders")
    assert handle.result(timeout=10) == [order]


def test_start_by_registered_name(worker):
    handle = durable.start("tests.workflows.adder", 1, 1)
    assert handle.result(timeout=10) == 2


def test_the_same_workflow_id_twice_is_the_same_run():
    first = durable.start(w.adder, 1, 2, workflow_id="order-17")
    second = durable.start(w.adder, 5, 5, workflow_id="order-17")
    assert first == second and first.id == "order-17"
    assert WorkflowRun.objects.filter(id="order-17").count() == 1
    assert run_of(first).args == (1, 2), "the second start must not overwrite the first run's inputs"


def test_the_same_workflow_id_for_another_workflow_is_a_conflict():
    durable.start(w.adder, 1, 2, workflow_id="order-18")
    with pytest.raises(durable.WorkflowConflict) as info:
        durable.start(w.waiter, workflow_id="order-18")
    message = str(info.value)
    assert "order-18" in message and "tests.workflows.adder" in message and "tests.workflows.waiter" in message
    assert "Use another workflow_id" in message
    assert run_of("order-18").name == "tests.workflows.adder"


def test_a_workflow_defined_in_a_function_is_refused_at_start():
    @durable.workflow()
    def local_flow():
        return 1

    with pytest.raises(durable.WorkflowImportError, match=r"defined in a function"):
        durable.start(local_flow)
    assert not WorkflowRun.objects.exists()


def test_a_workflow_defined_in_main_is_refused_at_start():
    def main_flow():
        return 1

    main_flow.__module__ = "__main__"
    main_flow.__qualname__ = "main_flow"
    wf = durable.workflow(name="tests.main_flow")(main_flow)
    with pytest.raises(durable.WorkflowImportError, match=r"__main__"):
        durable.start(wf)
    assert not WorkflowRun.objects.exists()


def test_start_refuses_a_plain_function():
    with pytest.raises(TypeError, match=r"not a durable workflow"):
        durable.start(w.double, 1)


@pytest.mark.parametrize(
    "value",
    [lambda: 1, open(__file__)],
    ids=["lambda", "file"],
)
def test_unserializable_arguments_fail_at_start(value):
    with pytest.raises(durable.SerializationError, match=r"arguments of tests.workflows.collect"):
        durable.start(w.collect, value, 1)
    assert not WorkflowRun.objects.exists()


def test_an_instance_of_a_local_class_fails_at_start():
    class Local:
        pass

    with pytest.raises(durable.SerializationError, match=r"cannot be stored"):
        durable.start(w.collect, Local(), 1)


def test_an_unserializable_workflow_result_fails_the_run(worker):
    handle = durable.start(w.unstorable_result)
    with pytest.raises(durable.SerializationError, match=r"return value of workflow tests.workflows.unstorable_result"):
        handle.result(timeout=10)
    assert handle.status() == "ERROR"


def test_result_timeout_raises_while_the_run_is_still_going():
    handle = durable.start(w.adder, 1, 2)  # no worker: it stays enqueued
    with pytest.raises(durable.ResultTimeout, match=r"still ENQUEUED"):
        handle.result(timeout=0.2)


def test_a_failing_workflow_re_raises_its_exception_from_result(worker):
    handle = durable.start(w.fails, "insufficient funds")
    with pytest.raises(w.PaymentDeclined, match=r"insufficient funds"):
        handle.result(timeout=10)
    run = run_of(handle)
    assert run.status == "ERROR"
    assert run.error_message == "PaymentDeclined: insufficient funds"
    assert "raise PaymentDeclined(reason)" in run.traceback


def test_handles_of_unknown_runs_raise_not_found():
    with pytest.raises(durable.WorkflowNotFound, match=r"no workflow run 'nope'"):
        durable.retrieve("nope")
    with pytest.raises(durable.WorkflowNotFound):
        durable.WorkflowHandle("nope").status()


def test_retrieve_returns_a_handle_to_an_existing_run(worker):
    handle = durable.start(w.adder, 2, 2)
    assert durable.retrieve(handle.id).result(timeout=10) == 4


def test_a_workflow_called_directly_runs_inline():
    assert w.doubles(5) == 10


def test_two_workflows_may_not_share_a_name():
    with pytest.raises(ValueError, match=r"Two workflows are named 'tests.workflows.adder'"):
        durable.workflow(name="tests.workflows.adder")(lambda: 1)
