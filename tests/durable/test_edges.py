"""The engine's promises at the edges (issue #10), against real worker processes on both databases:
a cancel stops the next step, any run's end wakes its waiters, reads and management calls inside
a workflow are recorded, a limited queue's slot is held while its run waits, sends between runs
never deadlock, and cancels cascade."""

import subprocess
import sys

import pytest
from django.db import transaction
from django.utils import timezone

import durable
from durable.models import Checkpoint, WorkflowRun
from tests import workflows as w
from tests.conftest import ROOT, retried
from tests.durable import edge_workflows as e
from tests.durable.conftest import run_of, wait_for, wait_started, wait_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def workers(worker_processes, ledger):
    worker_processes.start(concurrency=4, poll=0.05, lease=30)
    wait_started(worker_processes)
    return worker_processes


def stopped_in_log(workers, run_id):
    return f"workflow run {run_id} stopped: lease lost or run cancelled" in workers.logs()


@pytest.mark.parametrize("workflow", ["event", "send"])
def test_a_cancelled_run_never_starts_its_next_step(workers, ledger, workflow):
    if workflow == "event":
        handle = durable.start(e.event_then_step, "gate")
    else:
        target = durable.start(w.parks, "t")
        handle = durable.start(e.send_then_step, target.id, "gate")
    wait_for(lambda: durable.get_event(handle.id, "ready"), what="the run to publish its event")
    durable.cancel(handle.id)
    w.set_flag("gate")  # the workflow's plain code goes on to its next step
    wait_for(lambda: stopped_in_log(workers, handle.id), 30, "the worker to stop the run")
    assert w.ledger_lines("effect") == []
    assert run_of(handle).status == "CANCELLED"
    assert not Checkpoint.objects.filter(run_id=handle.id, kind="step").exists()


def test_waiting_on_a_run_that_is_not_a_child_wakes_when_it_ends(workers):
    other = durable.start(w.waiter, "t", None)
    wait_status(other, "WAITING")
    waiting = durable.start(e.waits_for_other, other.id)
    run = wait_status(waiting, "WAITING")
    assert run.wait_topic == f"durable.child:{other.id}"
    durable.send(other.id, "done", topic="t")
    assert waiting.result(timeout=20) == "done"


def test_a_fork_inside_a_workflow_happens_once(workers):
    original = durable.start(w.adder, 2, 3)
    assert original.result(timeout=20) == 5
    handle = durable.start(e.forks_and_waits, original.id)
    wait_status(handle, "WAITING")
    durable.send(handle.id, "go", topic="go")  # the workflow replays past its fork
    fork_id, value = handle.result(timeout=20)
    assert value == 5
    assert list(WorkflowRun.objects.filter(forked_from=original.id).values_list("id", flat=True)) == [fork_id]
    assert [cp.kind for cp in Checkpoint.objects.filter(run_id=handle.id).order_by("seq")] == ["fork", "recv", "result"]


def test_none_is_the_default_topic_for_send_and_recv(workers):
    receiver = durable.start(e.default_topic)
    wait_status(receiver, "WAITING")
    assert durable.send(receiver.id, "from outside", topic=None)
    assert receiver.result(timeout=20) == "from outside"
    receiver = durable.start(e.default_topic)
    sender = durable.start(e.sends_default_topic, receiver.id)
    assert sender.result(timeout=20) is True
    assert receiver.result(timeout=20) == "via None"


def test_a_fork_of_a_run_that_reads_its_own_events_replays(workers):
    original = durable.start(e.reads_own_event)
    assert original.result(timeout=20) == "read 41"
    fork = durable.fork(original.id, from_step=2)
    assert fork.result(timeout=20) == "read 41"
    assert run_of(fork).status == "SUCCESS"


def test_reads_inside_a_workflow_return_what_they_read_the_first_time(workers):
    other = durable.start(w.waiter, "t", None)
    wait_status(other, "WAITING")
    reader = durable.start(e.status_then_wait, other.id)
    wait_status(reader, "WAITING")
    durable.send(other.id, "bye", topic="t")
    assert other.result(timeout=20) == "bye"
    durable.send(reader.id, "go", topic="go")  # the reader replays both reads after the other ended
    assert reader.result(timeout=20) == ["WAITING", [other.id]]


def test_get_event_with_a_timeout_parks_until_the_event_is_set(workers):
    publisher = durable.start(e.sets_event_on_signal, "answer")
    wait_status(publisher, "WAITING")
    reader = durable.start(e.waits_for_event, publisher.id, "answer", 60)
    run = wait_status(reader, "WAITING")  # parked, not polling in a thread
    assert run.wait_topic == f"durable.event:{publisher.id}:answer" and run.wait_until is not None
    durable.send(publisher.id, "go", topic="go")
    assert reader.result(timeout=20) == "published"
    expired = durable.start(e.waits_for_event, publisher.id, "never", 0.5)
    assert expired.result(timeout=20) is None


def test_a_limited_queue_holds_its_slot_while_the_run_waits(workers, ledger):
    first = e.lock_queue.enqueue(e.holds_the_lock, "first")
    wait_status(first, "WAITING")
    second = e.lock_queue.enqueue(e.holds_the_lock, "second")
    # Work that the same worker claims after the second was enqueued: the second was passed over.
    assert durable.start(w.adder, 1, 1).result(timeout=20) == 2
    assert (run_of(second).status, run_of(second).started_at) == ("ENQUEUED", None)
    durable.send(first.id, "done", topic="release")
    assert first.result(timeout=20) == "first"
    wait_status(second, "WAITING")
    durable.send(second.id, "done", topic="release")
    assert second.result(timeout=20) == "second"
    assert [line.split()[-2:] for line in w.ledger_lines("effect")] == [
        ["first", "in"], ["first", "out"], ["second", "in"], ["second", "out"],
    ]  # fmt: skip


def test_updated_at_follows_every_transition(workers):
    handle = e.lock_queue.enqueue(e.holds_the_lock, "solo")
    created = run_of(handle).updated_at
    parked = wait_status(handle, "WAITING").updated_at
    assert parked > created  # claimed from a limited queue, then parked
    durable.send(handle.id, "done", topic="release")
    handle.result(timeout=20)
    finished = run_of(handle)
    assert finished.updated_at >= finished.finished_at > parked
    waiting = durable.start(w.parks, "x")
    before = wait_status(waiting, "WAITING").updated_at
    durable.cancel(waiting.id)
    assert run_of(waiting).updated_at > before


def test_runs_sending_to_each_other_at_once_never_deadlock(worker_processes):
    for _ in range(2):
        worker_processes.start(concurrency=8, poll=0.05, lease=30)
    wait_started(worker_processes, 2)
    pairs = []
    for i in range(20):
        a, b = f"pair-{i}-a", f"pair-{i}-b"

        def both(a=a, b=b):
            with transaction.atomic():  # both exist before either can send to the other
                return [durable.start(e.pair_sender, b, workflow_id=a), durable.start(e.pair_sender, a, workflow_id=b)]

        pairs += retried(both)  # a transaction of the test's own: retried if told to (CockroachDB mode)
    results = {h.id: h.result(timeout=90) for h in pairs}
    assert all(results[f"pair-{i}-a"] == f"pair-{i}-b" and results[f"pair-{i}-b"] == f"pair-{i}-a" for i in range(20))
    assert "deadlock" not in worker_processes.logs()
    assert not WorkflowRun.objects.filter(status="ERROR").exists()


def test_cancelling_a_parent_cancels_its_unfinished_children(workers):
    parent = durable.start(e.parent_of_two_waiters)
    wait_for(lambda: WorkflowRun.objects.filter(parent_id=parent.id, status="WAITING").count() == 2, 20,
             "both children to wait")  # fmt: skip
    wait_status(parent, "WAITING")
    durable.cancel(parent.id)
    statuses = set(WorkflowRun.objects.filter(parent_id=parent.id).values_list("status", flat=True))
    assert statuses == {"CANCELLED"} and run_of(parent).status == "CANCELLED"
    assert not WorkflowRun.objects.filter(parent_id=parent.id, finished_at__gt=timezone.now()).exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--concurrency", "0"], "--concurrency must be 1 or more"),
        (["--lease", "-1"], "--lease must be a positive number of seconds"),
        (["--poll-interval", "0"], "--poll-interval must be a positive number of seconds"),
    ],
)
def test_durable_worker_refuses_options_it_cannot_work_with(options, message):
    done = subprocess.run(
        [sys.executable, "manage.py", "durable_worker", *options], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and message in done.stderr


def test_a_database_error_in_the_engines_write_fails_the_run_naming_it(workers, postgres_only):
    # PostgreSQL refuses an event key longer than its column (SQLite would store it): not transient,
    # not a lost lease, so the run fails at once with the cause instead of being recovered for ever.
    handle = durable.start(e.publishes_event, "k" * 300)
    run = wait_status(handle, "ERROR")
    assert run.error_message.startswith("EngineError: The engine could not record the event")
    assert "value too long" in run.error_message and run.recovery_attempts == 0
