"""Streams (issue #15): a run writes ordered values, a reader outside follows them live; every
value once, across step retries, replays and a worker SIGKILLed mid-stream. Real worker processes."""

import threading

import pytest
from django.db import connection

import durable
from durable.models import StreamValue
from tests import workflows as w
from tests.durable import stream_workflows as s
from tests.durable.conftest import wait_for, wait_started, wait_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def workers(worker_processes, ledger):
    worker_processes.start(concurrency=2, poll=0.05, lease=2)
    wait_started(worker_processes)
    return worker_processes


def stored(run_id, key):
    rows = StreamValue.objects.filter(run_id=run_id, key=key).order_by("position")
    return list(rows.values_list("position", "closed"))


def test_a_reader_follows_tokens_as_the_workflow_writes_them(workers):
    handle = durable.start(s.chatty, "tokens", 5)
    read = []
    for value in durable.read_stream(handle.id, "tokens"):
        read.append(value)
        if value["token"] < 4:  # the step writes the next token once this one is read: the run is live
            assert durable.retrieve(handle.id).status() == "RUNNING"
        w.set_flag(f"ack-{value['token']}")
    assert read == [{"token": i} for i in range(5)]
    assert handle.result(timeout=20) is None


def test_a_worker_killed_mid_stream_leaves_no_duplicate_and_no_gap(worker_processes, ledger):
    first = worker_processes.start(concurrency=2, poll=0.05, lease=2)
    wait_started(worker_processes)
    handle = durable.start(s.token_stream, "out", 10, 6, "resume")
    reader = durable.read_stream(handle.id, "out")
    head = [next(reader) for _ in range(7)]  # "begin" and six tokens; the step waits at its seventh
    assert head == ["begin", *(f"token-{i}" for i in range(6))]
    worker_processes.kill(first)
    w.set_flag("resume")
    worker_processes.start(concurrency=2, poll=0.05, lease=2)
    rest = list(reader)  # the new worker replays the run and re-runs the step from its first token
    assert rest == [*(f"token-{i}" for i in range(6, 10)), "end"]
    assert handle.result(timeout=30) == "streamed"
    assert len(w.ledger_lines("tokens:")) == 2, "the step ran again after the kill"
    assert stored(handle.id, "out") == [(i, False) for i in range(12)] + [(12, True)]
    assert list(durable.read_stream(handle.id, "out")) == head + rest  # a late reader reads it all


def test_a_retried_step_writes_each_value_once(workers):
    handle = durable.start(s.retried_stream, "r")
    assert handle.result(timeout=20) == "ok"
    assert list(durable.read_stream(handle.id, "r")) == ["a", "b", "c", "d"]
    [step] = [i for i in durable.list_steps(handle.id) if i.kind == "step"]
    assert step.attempts == 3


def test_a_reader_stops_when_the_run_ends_without_closing_the_stream(workers):
    handle = durable.start(s.streams_then_fails, "p")
    assert list(durable.read_stream(handle.id, "p")) == ["partial"]
    assert wait_status(handle, "ERROR").error_message == "RuntimeError: gave up"


def test_a_reader_started_before_the_first_value_waits_for_it(workers):
    gate = durable.start(s.token_stream, "late", 2, 0, "open")
    values = []

    def read():
        try:
            values.extend(durable.read_stream(gate.id, "late"))
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    wait_for(lambda: stored(gate.id, "late"), what="the first value")  # "begin"; the step waits at its first
    w.set_flag("open")
    reader.join(timeout=30)
    assert values == ["begin", "token-0", "token-1", "end"]


def test_writing_to_a_closed_stream_is_refused(workers):
    handle = durable.start(s.writes_after_close, "c")
    assert "is closed" in handle.result(timeout=20)
    assert list(durable.read_stream(handle.id, "c")) == [1]


def test_streams_are_written_inside_runs_and_followed_from_outside(workers):
    with pytest.raises(durable.NotInWorkflow, match=r"read a stream from outside with durable\.read_stream"):
        durable.write_stream("k", 1)
    body = durable.start(s.reads_a_stream_in_the_body, "any")
    assert wait_status(body, "ERROR").error_message.startswith("NotInWorkflow: durable.read_stream() follows")
    with pytest.raises(durable.WorkflowNotFound):
        next(durable.read_stream("no-such-run", "k"))


def test_a_fork_keeps_the_values_written_before_its_step(workers):
    original = durable.start(s.token_stream, "f", 2)
    assert original.result(timeout=20) == "streamed"
    fork = durable.fork(original.id, from_step=2)  # keeps "begin" and the step's tokens, redoes the rest
    assert fork.result(timeout=20) == "streamed"
    assert list(durable.read_stream(fork.id, "f")) == ["begin", "token-0", "token-1", "end"]
    assert len(w.ledger_lines("tokens:")) == 1


def test_a_run_that_parks_and_replays_writes_its_values_once(workers):
    handle = durable.start(s.streams_around_a_wait, "w")
    reader = durable.read_stream(handle.id, "w")
    assert next(reader) == "before"
    wait_status(handle, "WAITING")
    durable.send(handle.id, "after", topic="go")
    assert list(reader) == ["after"]
    assert stored(handle.id, "w") == [(0, False), (1, False), (2, True)]


def test_an_async_step_retried_writes_each_value_once(workers):
    handle = durable.start(s.async_stream, "a")
    assert handle.result(timeout=20) == 4
    assert list(durable.read_stream(handle.id, "a")) == [0, 1, 2, 3]
