"""Importable Pydantic AI agents on an instant, scripted FunctionModel, run by durable workflows."""

from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

import durable
from durable.pydantic_ai import Durability, run_sync
from tests.workflows import flag, ledger, wait_for_gate

TOOLS = ("lookup", "price", "book")


def script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Call the three tools one after the other, then answer with what they returned."""
    ledger(f"model:{len(messages)}")
    returned = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]
    if len(returned) == 2 and flag("hold-model"):
        wait_for_gate("open-model")  # the test kills the worker here: two tool calls done, one to go
    if len(returned) < len(TOOLS):
        tool = TOOLS[len(returned)]
        return ModelResponse(
            parts=[ToolCallPart(tool, {"item": f"x{len(returned)}"}, tool_call_id=f"c{len(returned)}")]
        )
    return ModelResponse(parts=[TextPart(" ".join(str(p.content) for p in returned))])


trip = Agent(FunctionModel(script), name="trip", capabilities=[Durability()])


@trip.tool_plain
def lookup(item: str) -> str:
    ledger(f"tool:lookup:{item}")
    return f"found-{item}"


@trip.tool_plain
def price(item: str) -> int:
    ledger(f"tool:price:{item}")
    return 42


@trip.tool_plain
async def book(item: str) -> dict[str, Any]:
    ledger(f"tool:book:{item}")
    return {"booked": item}


@durable.workflow()
async def trip_agent(city: str) -> str:
    result = await trip.run(f"Plan a trip to {city}")
    return result.output


@durable.workflow()
def trip_agent_sync(city: str) -> str:
    return run_sync(trip, f"Plan a trip to {city}").output
