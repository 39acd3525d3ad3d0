"""The signals the engine sends: run_cancelled once a cancel of an unfinished run commits, and never
otherwise; run_finished with the operations of the run's history."""

import pytest
from django.db import transaction

import durable
from durable import signals
from durable.models import WorkflowRun
from tests import workflows as w
from tests.durable.conftest import run_of, running_worker, wait_for, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent():
    """(sender, run_id) of every run_cancelled sent during the test, in order."""
    calls = []

    def receiver(sender, run_id, **kwargs):
        calls.append((sender, run_id))

    durable.run_cancelled.connect(receiver)
    yield calls
    durable.run_cancelled.disconnect(receiver)


def test_it_is_public_api():
    assert "run_cancelled" in durable.__all__ and durable.run_cancelled is signals.run_cancelled


def test_cancelling_a_waiting_run_sends_it_once_with_the_run_id(worker, sent):
    handle = durable.start(w.waiter, "reply", timeout=None)
    wait_status(handle, "WAITING")
    durable.cancel(handle.id)
    assert sent == [(WorkflowRun, handle.id)]
    assert run_of(handle).status == "CANCELLED"
    durable.cancel(handle.id)  # already cancelled: nothing more
    assert sent == [(WorkflowRun, handle.id)]


def test_it_is_sent_after_the_commit_and_not_when_the_cancel_rolls_back(sent):
    handle = durable.start(w.adder, 1, 2)  # no worker: it stays enqueued
    with transaction.atomic():
        durable.cancel(handle.id)
        assert sent == []
    assert sent == [(WorkflowRun, handle.id)]

    other = durable.start(w.adder, 3, 4)
    with pytest.raises(RuntimeError), transaction.atomic():
        durable.cancel(other.id)
        raise RuntimeError("the caller's transaction fails")
    assert run_of(other).status == "ENQUEUED"
    assert sent == [(WorkflowRun, handle.id)]


def test_it_is_not_sent_for_a_run_that_succeeded_and_a_failed_run_becomes_cancelled(worker, sent):
    succeeded = durable.start(w.adder, 1, 1)
    failed = durable.start(w.fails, "boom")
    succeeded.result(timeout=10)
    wait_status(failed, "ERROR")
    durable.cancel(succeeded.id)
    durable.cancel(failed.id)
    durable.cancel(failed.id)  # a second cancel changes nothing and says nothing
    assert sent == [(WorkflowRun, failed.id)]
    assert (succeeded.status(), failed.status()) == ("SUCCESS", "CANCELLED")
    assert "boom" in run_of(failed).error_message  # the error it failed with is kept


def test_a_failing_receiver_is_logged_and_does_not_undo_the_cancel(sent, caplog):
    def broken(sender, run_id, **kwargs):
        raise RuntimeError("a receiver that fails")

    durable.run_cancelled.connect(broken)
    try:
        handle = durable.start(w.adder, 1, 2)
        durable.cancel(handle.id)  # does not raise
    finally:
        durable.run_cancelled.disconnect(broken)
    assert run_of(handle).status == "CANCELLED"
    assert "a receiver that fails" in caplog.text
    assert sent == [(WorkflowRun, handle.id)]  # the other receivers still ran


def test_run_finished_names_the_operations_its_history_records_or_none_when_not_read():
    ended: dict[str, tuple[str, frozenset[str] | None]] = {}

    def receiver(sender, run_id, status, operations, **kwargs):
        ended[run_id] = (status, operations)

    durable.run_finished.connect(receiver)
    try:
        steps = durable.start(w.three_steps)
        unknown = durable.start(w.three_steps)
        WorkflowRun.objects.filter(id=unknown.id).update(target="tests.workflows.no_such_workflow", name="gone")
        with running_worker():
            wait_for(lambda: len(ended) == 2, what="both runs to end")
    finally:
        durable.run_finished.disconnect(receiver)
    assert ended[steps.id] == ("SUCCESS", frozenset({"record"}))  # its three steps, one step function
    assert ended[unknown.id] == ("ERROR", None)  # failed before its replay: its history was not read
