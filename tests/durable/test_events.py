"""set_event / get_event: the latest value, its history, and waiting for one."""

import time

import pytest

import durable
from tests import workflows as w
from tests.durable.conftest import running_worker, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_get_event_returns_the_latest_value_and_history_keeps_every_value(worker):
    handle = durable.start(w.publisher, [{"step": 1}, {"step": 2}, "almost"])
    wait_status(handle, "WAITING")
    assert durable.get_event(handle.id, "progress") == "almost"
    assert [e.decoded for e in durable.event_history(handle.id, "progress")] == [{"step": 1}, {"step": 2}, "almost"]

    durable.send(handle.id, "go", topic="go")  # replays through the set_event calls
    assert handle.result(timeout=10) == "ok"
    assert durable.get_event(handle.id, "progress") == "final"
    history = [e.decoded for e in durable.event_history(handle.id, "progress")]
    assert history == [{"step": 1}, {"step": 2}, "almost", "final"], "replay published an event twice"


def test_event_history_without_a_key_lists_every_key(worker):
    handle = durable.start(w.waiter, "t", 60)
    wait_status(handle, "WAITING")
    durable.send(handle.id, "x", topic="t")
    handle.result(timeout=10)
    assert [(e.key, e.decoded) for e in durable.event_history(handle.id)] == [("status", "waiting"), ("status", "done")]


def test_get_event_of_an_unpublished_key_is_none_after_the_timeout():
    handle = durable.start(w.adder, 1, 1)
    started = time.monotonic()
    assert durable.get_event(handle.id, "missing", timeout=0.3) is None
    assert time.monotonic() - started >= 0.3
    assert durable.get_event(handle.id, "missing") is None


def test_get_event_waits_for_a_value_published_later():
    handle = durable.start(w.waiter, "t", 60)
    with running_worker():
        assert durable.get_event(handle.id, "status", timeout=10) == "waiting"


def test_get_event_inside_a_workflow_is_checkpointed(worker):
    source = durable.start(w.publisher, ["v1"])
    wait_status(source, "WAITING")
    reader = durable.start(w.reads_event, source.id, "progress")
    wait_status(reader, "WAITING")
    durable.send(source.id, "go", topic="go")  # the source now publishes "final"
    source.result(timeout=10)
    durable.send(reader.id, "go", topic="go")  # the reader replays: it must see what it read first
    assert reader.result(timeout=10) == "v1"


def test_set_event_outside_a_workflow_raises():
    with pytest.raises(durable.NotInWorkflow, match=r"set_event"):
        durable.set_event("k", 1)


def test_an_unserializable_event_value_fails_the_run_at_set_event(worker):
    handle = durable.start(w.publishes_unstorable)
    with pytest.raises(durable.SerializationError, match=r"event 'callback'"):
        handle.result(timeout=10)
    assert not durable.event_history(handle.id).exists()
