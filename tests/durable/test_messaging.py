"""send/recv: topics, buffering, idempotency, timeouts as persisted deadlines, parking."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

import durable
from durable.models import Checkpoint, Message
from tests import workflows as w
from tests.durable.conftest import run_of, running_worker, wait_for, wait_started, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_message_sent_before_recv_is_buffered():
    handle = durable.start(w.collect, "inbox", 1)
    assert durable.send(handle.id, {"answer": 42}, topic="inbox") is True
    with running_worker():  # the run starts only once the message is already there
        assert handle.result(timeout=10) == [{"answer": 42}]


def test_messages_are_delivered_per_topic_in_order(worker):
    handle = durable.start(w.two_topics)
    durable.send(handle.id, "first on a", topic="a")
    durable.send(handle.id, "second on a", topic="a")
    durable.send(handle.id, "on b", topic="b")
    assert handle.result(timeout=10) == ["first on a", "on b"]
    leftover = Message.objects.get(destination_id=handle.id, consumed_at__isnull=True)
    assert leftover.value == "second on a"


def test_recv_parks_the_run_without_holding_a_thread(worker):
    handle = durable.start(w.collect, "reply", 1, timeout=600)
    before = timezone.now()
    run = wait_status(handle, "WAITING")
    assert run.wait_topic == "reply"
    assert before + timedelta(seconds=590) < run.wait_until < before + timedelta(seconds=610)
    assert run.ready_at == run.wait_until and run.lease_owner == ""
    wait_for(lambda: not worker.inflight, what="the worker to let go of the run")
    cp = Checkpoint.objects.get(run_id=handle.id, kind="recv")
    assert cp.deadline == run.wait_until and cp.finished_at is None

    durable.send(handle.id, "yes", topic="reply")
    assert handle.result(timeout=10) == ["yes"]


def test_a_message_on_another_topic_does_not_wake_the_run(worker):
    handle = durable.start(w.collect, "reply", 1, timeout=600)
    wait_status(handle, "WAITING")
    durable.send(handle.id, "noise", topic="other")
    run = run_of(handle)
    assert run.status == "WAITING" and run.wait_topic == "reply"


def test_recv_returns_none_when_the_timeout_passes(worker):
    started = time.monotonic()
    handle = durable.start(w.collect, "nobody", 1, timeout=0.5)
    assert handle.result(timeout=10) == [None]
    assert time.monotonic() - started >= 0.5
    cp = Checkpoint.objects.get(run_id=handle.id, kind="recv")
    assert cp.finished_at >= cp.deadline


def test_the_same_idempotency_key_delivers_at_most_once(worker):
    handle = durable.start(w.collect, "decision", 2, timeout=1.0)
    assert durable.send(handle.id, "approve", topic="decision", idempotency_key="req-1") is True
    assert durable.send(handle.id, "approve", topic="decision", idempotency_key="req-1") is False
    assert durable.send(handle.id, "reject", topic="decision", idempotency_key="req-1") is False
    assert handle.result(timeout=10) == ["approve", None]
    assert Message.objects.filter(destination_id=handle.id).count() == 1


def test_different_idempotency_keys_both_deliver(worker):
    handle = durable.start(w.collect, "decision", 2)
    assert durable.send(handle.id, "one", topic="decision", idempotency_key="a")
    assert durable.send(handle.id, "two", topic="decision", idempotency_key="b")
    assert handle.result(timeout=10) == ["one", "two"]


def test_send_inside_a_workflow_happens_once_across_replay(worker):
    target = durable.start(w.collect, "greet", 2, timeout=600)
    sender = durable.start(w.sends_then_waits, target.id)
    wait_status(sender, "WAITING")
    durable.send(sender.id, "go", topic="go")  # the sender replays past its send
    assert sender.result(timeout=10) is True
    msgs = list(Message.objects.filter(destination_id=target.id))
    assert [m.value for m in msgs] == ["hello"]
    assert msgs[0].sender == sender.id


def test_send_to_an_unknown_run_raises_not_found():
    with pytest.raises(durable.WorkflowNotFound, match=r"no such run"):
        durable.send("no-such-run", "hi")
    assert not Message.objects.exists()


def test_an_unserializable_message_fails_at_send():
    handle = durable.start(w.collect, "t", 1)
    with pytest.raises(durable.SerializationError, match=r"message"):
        durable.send(handle.id, lambda: 1, topic="t")
    assert not Message.objects.exists()


def test_recv_outside_a_workflow_raises_not_in_workflow():
    with pytest.raises(durable.NotInWorkflow, match=r"outside a workflow"):
        durable.recv("x", timeout=1)


def test_the_deadline_is_absolute_and_survives_a_worker_restart(worker_processes):
    first = worker_processes.start()
    handle = durable.start(w.collect, "never", 1, timeout=6.0)
    deadline = wait_status(handle, "WAITING").wait_until
    worker_processes.kill(first)
    worker_processes.start()  # replays the run at the deadline, through the pending recv
    wait_started(worker_processes, 2)
    ready = timezone.now()

    assert handle.result(timeout=30) == [None]
    cp = Checkpoint.objects.get(run_id=handle.id, kind="recv")
    assert cp.deadline == deadline, "the restart moved the deadline"
    # A deadline recomputed on replay would park the run for another 6 s.
    assert deadline <= cp.finished_at < max(deadline, ready) + timedelta(seconds=4)
