"""LlamaIndex workflows on the durable runtime: steps journaled, replayed after a SIGKILL, parked when idle."""

import asyncio
from collections import Counter

import pytest
from workflows.events import HumanResponseEvent, InputRequiredEvent, StopEvent

import durable
from durable import llama_index
from tests.agents import llama_workflows as lw
from tests.durable.conftest import wait_for, wait_status
from tests.workflows import ledger_lines, set_flag

pytestmark = pytest.mark.django_db(transaction=True)


def step_names(run_id):
    return [s.name for s in durable.list_steps(run_id) if s.kind == "step"]


def test_each_step_is_a_durable_step_and_the_stream_and_state_are_kept(worker, ledger):
    handle = llama_index.start(lw.FanOut, runtime="tests-plain", order="A-1")
    stop = llama_index.stop_event(handle.result(timeout=30))
    assert stop.result == {"parts": ["fast", "slow"], "fast_at": "A-1"}
    names = step_names(handle.id)
    assert {"llama_index:begin", "llama_index:fast", "llama_index:slow", "llama_index:join"} <= set(names)
    published = list(llama_index.events(handle.id))
    assert [e.get("progress") for e in published if e.get("progress")] == ["fast done"]
    assert isinstance(published[-1], StopEvent)


@pytest.mark.slow
def test_a_sigkilled_run_with_two_concurrent_steps_repeats_no_finished_step(worker_processes, ledger):
    set_flag("hold-slow")
    first = worker_processes.start(lease=5.0, poll=0.05)
    handle = llama_index.start(lw.FanOut, runtime="tests-plain", order="A-1")
    # fast finished and is recorded while slow, its concurrent sibling, is still running
    wait_for(lambda: "llama_index:fast" in step_names(handle.id), timeout=60, what="fast's record")
    wait_for(lambda: ledger_lines("slow:start"), timeout=60, what="slow to start")
    worker_processes.kill(first)
    set_flag("open-slow")
    worker_processes.start(lease=1.0, poll=0.05)

    stop = llama_index.stop_event(handle.result(timeout=60))
    assert stop.result == {"parts": ["fast", "slow"], "fast_at": "A-1"}  # the state fast set came back from its record
    # Finished steps ran once; the step in flight at the kill ran again.
    assert Counter(ledger_lines()) == {"begin": 1, "fast": 1, "slow:start": 2, "slow": 1, "join": 1}
    assert [e.get("progress") for e in llama_index.events(handle.id) if e.get("progress")] == ["fast done"]
    worker_processes.check()


def test_an_idle_run_parks_until_an_event_is_sent_from_outside(worker, ledger):
    handle = llama_index.start(lw.Greeter, runtime="tests-plain")
    wait_status(handle, "WAITING")
    # The stream is read while the run goes on: the question is there, the run still waits.
    asked = next(e for e in llama_index.events(handle.id) if isinstance(e, InputRequiredEvent))
    assert asked.get("prefix") == "What's your name?"
    assert llama_index.send_event(handle.id, HumanResponseEvent(response="Ada"))
    assert llama_index.stop_event(handle.result(timeout=30)).result == "Hello, Ada!"


def test_the_order_concurrent_steps_finished_in_is_replayed(worker, ledger):
    handle = llama_index.start(lw.Race, runtime="tests-plain")
    wait_status(handle, "WAITING")
    finished = [n for n in step_names(handle.id) if n in ("llama_index:first", "llama_index:second")]
    # "first" cannot end before "second" has run (it waits for its flag), but which of the two the
    # loop records first depends on the threads' timing: whatever was recorded is what replays.
    assert sorted(finished) == ["llama_index:first", "llama_index:second"]
    llama_index.send_event(handle.id, HumanResponseEvent(response="yes"))
    # The run replayed from its journal after the park: the steps finished again in the recorded order.
    result = llama_index.stop_event(handle.result(timeout=30)).result
    assert result == {"arrived": [n.removeprefix("llama_index:") for n in finished], "answer": "yes"}


def test_the_llama_index_handler_streams_and_answers_through_the_database(worker, ledger):
    async def converse():
        handler = lw.Greeter(runtime=lw.PLAIN, timeout=None).run()
        async for event in handler.stream_events():
            if isinstance(event, InputRequiredEvent):
                handler.ctx.send_event(HumanResponseEvent(response="Grace"))
        return await handler

    assert asyncio.run(converse()) == "Hello, Grace!"


def test_a_retry_delay_is_a_timer_the_run_waits_out(worker, ledger):
    handle = llama_index.start(lw.Flaky, runtime="tests-plain")
    assert llama_index.stop_event(handle.result(timeout=30)).result == "ok"
    assert ledger_lines("call") == ["call", "call"]
    # Between the two attempts the idle run waited in a recv whose deadline was the retry's moment.
    ops = [(s.kind, s.name) for s in durable.list_steps(handle.id) if s.kind in ("step", "recv")]
    assert ops == [("step", "llama_index:call"), ("recv", llama_index.TICK_TOPIC), ("step", "llama_index:call")]


def test_a_failing_step_fails_the_run_with_its_error(worker, ledger):
    handle = llama_index.start(lw.Broken, runtime="tests-plain")
    with pytest.raises(ValueError, match="no such order"):  # the step's own error
        handle.result(timeout=30)


def test_a_parked_run_is_cancelled(worker, ledger):
    handle = llama_index.start(lw.Greeter, runtime="tests-plain")
    wait_status(handle, "WAITING")
    durable.cancel(handle.id)
    wait_status(handle, "CANCELLED")
