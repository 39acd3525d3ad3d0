"""@durable.step: checkpointed once, retried with backoff, failures recorded and replayed."""

import itertools

import pytest

import durable
from durable.models import Checkpoint
from tests import workflows as w
from tests.durable.conftest import checkpoints, run_of, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_step_outside_a_workflow_is_a_plain_call():
    assert w.double(21) == 42
    assert not Checkpoint.objects.exists()


def test_a_step_result_is_checkpointed_under_its_name(worker):
    handle = durable.start(w.doubles, 4)
    assert handle.result(timeout=10) == 8
    cp = Checkpoint.objects.get(run_id=handle.id)
    assert (cp.seq, cp.kind, cp.name, cp.attempts) == (0, "step", "double", 1)
    assert cp.finished_at is not None


def test_a_failing_step_is_retried_with_backoff_until_it_succeeds(worker, ledger):
    handle = durable.start(w.retrying, 2)
    assert handle.result(timeout=10) == "ok after 3"
    stamps = [float(line.split()[2]) for line in w.ledger_lines("flaky ")]
    assert len(stamps) == 3
    # interval 0.05 s, backoff 2: the waits are at least 0.05 s, then 0.1 s. Only the lower bounds
    # are the mechanism; a loaded machine can stretch either wait.
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1, gaps
    assert Checkpoint.objects.get(run_id=handle.id).attempts == 3


def test_a_step_that_exhausts_its_retries_fails_the_run_with_its_own_exception(worker, ledger):
    handle = durable.start(w.retrying, 10)
    with pytest.raises(ConnectionError, match=r"attempt 4 failed"):
        handle.result(timeout=10)
    assert len(w.ledger_lines("flaky ")) == 4  # the call and 3 retries
    cp = Checkpoint.objects.get(run_id=handle.id)
    assert cp.error and cp.attempts == 4
    run = run_of(handle)
    assert run.status == "ERROR"
    assert run.error_message == "ConnectionError: attempt 4 failed"
    assert "flaky" in run.traceback


def test_the_final_exception_is_re_raised_on_replay_without_running_the_step_again(worker, ledger):
    handle = durable.start(w.survives_failed_step)
    wait_status(handle, "WAITING")
    assert len(w.ledger_lines("always_fails")) == 3
    durable.send(handle.id, "continue", topic="go")  # the run replays from the top
    assert handle.result(timeout=10) == "PaymentDeclined: the card was declined"
    assert len(w.ledger_lines("always_fails")) == 3, "the failed step ran again on replay"


def test_step_id_is_stable_across_retries_and_distinct_per_step(worker, ledger):
    handle = durable.start(w.retrying, 1)
    handle.result(timeout=10)
    ids = {line.split()[1] for line in w.ledger_lines("flaky ")}
    assert ids == {f"{handle.id}:0"}

    handle = durable.start(w.who_am_i)
    run_id, first, second = handle.result(timeout=10)
    assert run_id == handle.id
    assert list(first) == [handle.id, f"{handle.id}:0"]
    assert list(second) == [handle.id, f"{handle.id}:1"]


def test_workflow_id_and_step_id_outside_a_run_raise_not_in_workflow():
    with pytest.raises(durable.NotInWorkflow, match=r"outside a workflow"):
        durable.workflow_id()
    with pytest.raises(durable.NotInWorkflow, match=r"inside a @durable.step"):
        durable.step_id()


def test_an_unstorable_step_result_fails_at_the_step(worker, ledger):
    handle = durable.start(w.unstorable_step_result)
    with pytest.raises(durable.SerializationError, match=r"returns_a_function"):
        handle.result(timeout=10)
    assert w.ledger_lines() == [], "the workflow carried on past a step whose result was lost"
    assert checkpoints(handle) == []


def test_step_arguments_are_validated():
    with pytest.raises(ValueError, match=r"retries >= 0"):
        durable.step(retries=-1)
    with pytest.raises(ValueError, match=r"backoff >= 1"):
        durable.step(backoff=0.5)
