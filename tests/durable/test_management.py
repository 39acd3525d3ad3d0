"""cancel, resume and fork."""

import pytest

import durable
from durable.models import Checkpoint, WorkflowRun
from tests import workflows as w
from tests.durable.conftest import checkpoints, run_of, running_worker, wait_for, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_cancel_makes_a_waiting_run_leave_its_wait_at_once(worker):
    handle = durable.start(w.collect, "reply", 1, timeout=None)
    wait_status(handle, "WAITING")
    durable.cancel(handle.id)
    run = run_of(handle)
    assert run.status == "CANCELLED"
    assert run.wait_topic is None and run.wait_until is None and run.ready_at is None
    assert run.finished_at is not None
    with pytest.raises(durable.WorkflowCancelled, match=handle.id):
        handle.result(timeout=1)
    assert durable.send(handle.id, "late", topic="reply") is True  # accepted, but nothing runs again
    assert run_of(handle).status == "CANCELLED"


def test_cancel_stops_a_running_run_at_its_next_step(worker, ledger):
    handle = durable.start(w.gated, "gate")
    wait_for(lambda: f"{handle.id}:b:start" in w.ledger_lines(), what="step b to start")
    durable.cancel(handle.id)
    w.set_flag("gate")  # step b finishes; step c must not start
    wait_for(lambda: f"{handle.id}:b:end" in w.ledger_lines(), what="step b to end")
    wait_for(lambda: not worker.inflight, what="the worker to stop the run")
    assert w.ledger_lines(handle.id) == [f"{handle.id}:a", f"{handle.id}:b:start", f"{handle.id}:b:end"]
    assert run_of(handle).status == "CANCELLED"


def test_cancel_of_an_enqueued_run_means_it_never_runs(ledger):
    handle = durable.start(w.three_steps)
    durable.cancel(handle.id)
    with running_worker():
        with pytest.raises(durable.WorkflowCancelled):
            handle.result(timeout=2)
    assert w.ledger_lines() == []


def test_cancel_of_a_finished_run_changes_nothing(worker):
    handle = durable.start(w.adder, 1, 1)
    handle.result(timeout=10)
    durable.cancel(handle.id)
    assert handle.status() == "SUCCESS"


def test_cancel_of_an_unknown_run_raises_not_found():
    with pytest.raises(durable.WorkflowNotFound, match=r"Cannot cancel workflow run 'ghost'"):
        durable.cancel("ghost")


def test_resume_reruns_a_failed_run_from_its_last_checkpoint(worker, ledger):
    handle = durable.start(w.checks_flag, "ready")
    with pytest.raises(RuntimeError, match=r"flag ready is not set"):
        handle.result(timeout=10)
    w.set_flag("ready")
    assert durable.resume(handle.id) == handle
    assert handle.result(timeout=10) == ["first", "second"]
    assert w.ledger_lines(handle.id) == [f"{handle.id}:first", f"{handle.id}:second"]
    run = run_of(handle)
    assert run.error_message == "" and run.traceback == ""


def test_resume_continues_a_cancelled_run_where_it_stopped(worker, ledger):
    handle = durable.start(w.survives_failed_step)
    wait_status(handle, "WAITING")
    durable.cancel(handle.id)
    durable.resume(handle.id)
    wait_status(handle, "WAITING")
    durable.send(handle.id, "go", topic="go")
    assert handle.result(timeout=10) == "PaymentDeclined: the card was declined"
    assert len(w.ledger_lines("always_fails")) == 3, "resume re-ran a step that had a checkpoint"


def test_resume_refuses_a_succeeded_run_and_an_unknown_one(worker):
    handle = durable.start(w.adder, 1, 1)
    handle.result(timeout=10)
    with pytest.raises(ValueError, match=r"already succeeded; fork it"):
        durable.resume(handle.id)
    with pytest.raises(durable.WorkflowNotFound, match=r"no such run"):
        durable.resume("ghost")


def test_fork_reuses_the_checkpoints_before_the_step_and_reruns_the_rest(worker, ledger):
    original = durable.start(w.three_steps)
    assert original.result(timeout=10) == ["a", "b", "c"]
    forked = durable.fork(original.id, from_step=1)
    assert forked.id != original.id
    assert forked.result(timeout=10) == ["a", "b", "c"]
    assert w.ledger_lines(forked.id) == [f"{forked.id}:b", f"{forked.id}:c"]
    assert run_of(forked).forked_from == original.id
    assert len(checkpoints(forked)) == 3
    assert len(checkpoints(original)) == 3, "the original's history must stay as it was"


def test_fork_from_a_failed_step_runs_it_again_on_fixed_conditions(worker, ledger):
    original = durable.start(w.step_fails_until_flag, "fixed")
    with pytest.raises(RuntimeError, match=r"flag fixed is not set"):
        original.result(timeout=10)
    w.set_flag("fixed")
    forked = durable.fork(original.id, from_step=1, new_workflow_id="retry-1")
    assert forked.id == "retry-1"
    assert forked.result(timeout=10) == ["first", "fixed", "third"]
    assert w.ledger_lines(original.id) == [f"{original.id}:first", f"{original.id}:needs_flag"]
    assert w.ledger_lines("retry-1") == ["retry-1:needs_flag", "retry-1:third"]


def test_fork_from_step_zero_reruns_everything(worker, ledger):
    original = durable.start(w.three_steps)
    original.result(timeout=10)
    forked = durable.fork(original.id)
    forked.result(timeout=10)
    assert len(w.ledger_lines(forked.id)) == 3


def test_fork_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"from_step must be 0 or more"):
        durable.fork("x", from_step=-1)
    with pytest.raises(durable.WorkflowNotFound):
        durable.fork("ghost", from_step=1)
    assert not WorkflowRun.objects.exists() and not Checkpoint.objects.exists()
