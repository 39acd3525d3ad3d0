"""Replay from checkpoints: finished steps never run again; a diverging history is refused."""

import pytest

import durable
from durable.models import Checkpoint
from tests import workflows as w
from tests.durable.conftest import checkpoints, run_of, wait_for, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_resumed_after_its_worker_is_killed_does_not_rerun_finished_steps(worker_processes, ledger):
    first = worker_processes.start(lease=1.0)
    handle = durable.start(w.gated, "gate")
    wait_for(lambda: f"{handle.id}:b:start" in w.ledger_lines(), what="step b to start")
    worker_processes.kill(first)  # SIGKILL in the middle of step b

    worker_processes.start(lease=1.0)
    w.set_flag("gate")
    assert handle.result(timeout=30) == ["a", "b", "c"]
    assert w.ledger_lines(handle.id) == [
        f"{handle.id}:a",  # finished before the kill: not repeated
        f"{handle.id}:b:start",  # the attempt the kill interrupted
        f"{handle.id}:b:start",
        f"{handle.id}:b:end",
        f"{handle.id}:c",
    ]
    assert checkpoints(handle) == [(0, "step", "record"), (1, "step", "blocking_record"), (2, "step", "record")]
    assert run_of(handle).recovery_attempts == 1


def test_replay_returns_recorded_results_instead_of_running_steps(worker, ledger):
    handle = durable.start(w.variant)
    wait_status(handle, "WAITING")
    durable.send(handle.id, "go", topic="go")
    assert handle.result(timeout=10) == "done"
    assert w.ledger_lines(handle.id) == [f"{handle.id}:a"]


def test_a_step_sequence_that_changed_while_the_run_waited_stops_it_with_a_clear_error(worker, ledger):
    handle = durable.start(w.variant)
    wait_status(handle, "WAITING")
    w.set_flag("variant-b")  # "deploy" code whose first step differs
    durable.send(handle.id, "go", topic="go")

    run = wait_status(handle, "ERROR")
    assert run.error_message.startswith("NonDeterminismError")
    assert "operation #0" in run.error_message
    assert "recorded step 'record' but the code now does step 'double'" in run.error_message
    assert "fork" in run.error_message and "cancel" in run.error_message
    assert w.ledger_lines(handle.id) == [f"{handle.id}:a"], "the diverging step must not run"
    with pytest.raises(durable.NonDeterminismError):
        handle.result(timeout=1)


def test_a_checkpoint_that_no_longer_matches_the_code_names_both(worker, ledger):
    handle = durable.start(w.variant)
    wait_status(handle, "WAITING")
    Checkpoint.objects.filter(run_id=handle.id, seq=0).update(name="charge_card")
    durable.send(handle.id, "go", topic="go")

    run = wait_status(handle, "ERROR")
    assert "operation #0" in run.error_message
    assert "'charge_card'" in run.error_message and "'record'" in run.error_message


def test_a_changed_operation_kind_is_non_determinism_too(worker, ledger):
    handle = durable.start(w.variant)
    wait_status(handle, "WAITING")
    Checkpoint.objects.filter(run_id=handle.id, seq=1).update(kind="sleep", name="sleep")
    durable.send(handle.id, "go", topic="go")

    run = wait_status(handle, "ERROR")
    assert "operation #1" in run.error_message
    assert "sleep 'sleep'" in run.error_message and "recv 'go'" in run.error_message
