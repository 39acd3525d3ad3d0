"""A Pydantic AI agent whose worker is SIGKILLed mid-run resumes on another worker from its last step."""

from collections import Counter

import pytest

import durable
from tests.agents import agents
from tests.durable.conftest import wait_for
from tests.workflows import ledger_lines, set_flag

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.parametrize("workflow", [agents.trip_agent, agents.trip_agent_sync], ids=["async", "sync"])
def test_a_sigkilled_agent_repeats_no_finished_model_request_or_tool_call(worker_processes, ledger, workflow):
    set_flag("hold-model")  # the third model request blocks: two tool calls are done by then
    # A lease long enough that a loaded machine's late renewal cannot hand the run to another
    # thread while it runs; the kill then costs those 5 s before the second worker recovers it.
    first = worker_processes.start(lease=5.0, poll=0.05)
    handle = durable.start(workflow, "Oslo")
    wait_for(lambda: "model:5" in ledger_lines("model:"), timeout=60, what="the third model request")
    worker_processes.kill(first)
    set_flag("open-model")
    worker_processes.start(lease=1.0, poll=0.05)

    assert handle.result(timeout=60) == "found-x0 42 {'booked': 'x2'}"
    counts = Counter(ledger_lines())
    # Each finished model request and tool call ran once; the request in flight at the kill ran again.
    assert counts == {
        "model:1": 1,
        "tool:lookup:x0": 1,
        "model:3": 1,
        "tool:price:x1": 1,
        "model:5": 2,
        "tool:book:x2": 1,
        "model:7": 1,
    }
    # The agent's events were published once each, however often the run was replayed.
    assert durable.event_history(handle.id, "agent").count() == 10
    worker_processes.check()
