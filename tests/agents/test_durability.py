"""A Pydantic AI agent with ``Durability()``: each model request and tool call is one step."""

import json

import pytest

import durable
from durable.models import Checkpoint
from tests.agents import agents
from tests.durable.conftest import checkpoints, wait_for, wait_status
from tests.workflows import ledger_lines, set_flag

pytestmark = pytest.mark.django_db(transaction=True)

STEPS = [
    "trip__model.request",
    "trip__function_toolset__<agent>.call_tool:lookup",
    "trip__model.request",
    "trip__function_toolset__<agent>.call_tool:price",
    "trip__model.request",
    "trip__function_toolset__<agent>.call_tool:book",
    "trip__model.request",
]


@pytest.mark.parametrize("workflow", [agents.trip_agent, agents.trip_agent_sync], ids=["async", "sync"])
def test_every_model_request_and_tool_call_is_a_step_named_by_pydantic_ai(worker, ledger, workflow):
    handle = durable.start(workflow, "Oslo")
    assert handle.result(timeout=30) == "found-x0 42 {'booked': 'x2'}"
    assert [name for _, kind, name in checkpoints(handle) if kind == "step"] == STEPS
    assert len(ledger_lines("model:")) == 4 and len(ledger_lines("tool:")) == 3


def test_a_model_response_is_stored_in_pydantic_ais_json_form(worker, ledger):
    handle = durable.start(agents.trip_agent, "Oslo")
    handle.result(timeout=30)
    first = Checkpoint.objects.filter(run_id=handle.id).order_by("seq").first()
    stored = first.output
    assert '"part_kind": "tool-call"' in stored and "py/object" not in stored


def test_the_agents_events_are_published_through_the_engine(worker, ledger):
    handle = durable.start(agents.trip_agent, "Oslo")
    handle.result(timeout=30)
    events = [json.loads(e.value) for e in durable.event_history(handle.id, "agent")]
    assert [e["event_kind"] for e in events] == EVENTS
    calls = [e["part"]["tool_name"] for e in events if e["event_kind"] == "function_tool_call"]
    assert calls == ["lookup", "price", "book"]
    assert events[-1]["part"] == events[-1]["part"] | {"part_kind": "text", "content": "found-x0 42 {'booked': 'x2'}"}


EVENTS = [
    *["part_end", "function_tool_call", "function_tool_result"] * 3,
    "part_end",  # the answer
]


def test_a_tools_metadata_sets_its_step_retries(worker, ledger):
    handle = durable.start(agents.call_tool, "flaky_tool")
    assert handle.result(timeout=30) == "up at last"
    step = Checkpoint.objects.get(run_id=handle.id, name="tools__function_toolset__<agent>.call_tool:flaky_tool")
    assert step.attempts == 3 and len(ledger_lines("flaky_tool")) == 3


def test_a_tool_result_that_cannot_be_stored_fails_in_its_step_without_retrying(worker, ledger):
    handle = durable.start(agents.call_tool, "unstorable_tool")
    with pytest.raises(durable.SerializationError, match="cannot be stored as JSON"):
        handle.result(timeout=30)
    step = Checkpoint.objects.get(run_id=handle.id, name="tools__function_toolset__<agent>.call_tool:unstorable_tool")
    assert step.error and step.attempts == 1


def test_a_dynamic_toolsets_discovery_and_calls_are_steps(worker, ledger):
    handle = durable.start(agents.forecast)
    assert handle.result(timeout=30) == "sunny in Oslo"
    steps = [name for _, kind, name in checkpoints(handle) if kind == "step"]
    assert "forecaster__dynamic_toolset__weather.call_tool:weather" in steps
    assert "forecaster__dynamic_toolset__weather.get_tools" in steps
    assert ledger_lines("weather:") == ["weather:Oslo"]


def test_a_cancel_while_the_agent_runs_stops_it_before_its_next_step(worker, ledger):
    set_flag("hold-model")  # the third model request blocks until the gate opens
    handle = durable.start(agents.trip_agent, "Oslo")
    wait_for(lambda: "model:5" in ledger_lines("model:"), what="the third model request")
    durable.cancel(handle.id)
    set_flag("open-model")
    wait_status(handle, "CANCELLED")
    # The interrupt unwound the agent out of Pydantic AI's graph: nothing ran after the cancel.
    wait_for(lambda: handle.id not in worker.inflight, what="the worker to let go of the run")
    assert ledger_lines("tool:book") == []
    assert durable.retrieve(handle.id).status() == "CANCELLED"


def test_a_plain_tool_may_run_another_agent_with_run_sync(worker, ledger):
    handle = durable.start(agents.call_tool, "ask_helper")
    assert handle.result(timeout=30) == "helper says 42"
