"""Importable Pydantic AI agents on an instant, scripted FunctionModel, run by durable workflows."""

from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_ai import Agent, RunContext
from pydantic_ai.capabilities import RequestInput
from pydantic_ai.exceptions import CallDeferred
from pydantic_ai.messages import ModelMessage, ModelResponse, RetryPromptPart, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import DeferredToolRequests
from pydantic_ai.toolsets import DynamicToolset, FunctionToolset

import durable
from durable.pydantic_ai import Durability, run_sync
from inbox.approvals import InboxApprovals
from tests.workflows import flag, ledger, ledger_lines, wait_for_gate

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


trip = Agent(FunctionModel(script), name="trip", capabilities=[Durability(publish_events="agent")])


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


# --- an agent whose refund tool needs a reviewer's approval in the inbox ----------------------


def refund_script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Propose a full refund; then report what came back (the tool's result, or why not)."""
    ledger(f"refund-model:{len(messages)}")
    last = messages[-1].parts
    answers = [p for p in last if isinstance(p, ToolReturnPart | RetryPromptPart)]
    if not answers:
        text = TextPart("The blender arrived **broken**: I propose a full refund.")
        call = ToolCallPart("issue_refund", {"order_id": "A-1", "amount": 30.0}, tool_call_id="r1")
        return ModelResponse(parts=[text, call])
    answer = answers[0]
    said = answer.model_response() if isinstance(answer, RetryPromptPart) else answer.content
    return ModelResponse(parts=[TextPart(f"{type(answer).__name__}: {said}")])


def _our_order(order_id: str) -> str:
    """A check the JSON schema cannot express, so only Pydantic AI's validation catches it."""
    if not order_id.startswith("A-"):
        raise ValueError(f"{order_id} is not one of our orders (they start with A-)")
    return order_id


refunds = Agent(FunctionModel(refund_script), name="refunds", capabilities=[Durability(), InboxApprovals()])


@refunds.tool_plain(requires_approval=True, metadata={"inbox": {"title": "Refund {amount} EUR on {order_id}?"}})
def issue_refund(
    order_id: Annotated[str, AfterValidator(_our_order)], amount: Annotated[float, Field(gt=0, le=30)]
) -> str:
    ledger(f"issue_refund:{order_id}:{amount}")
    return f"refunded {amount} EUR on {order_id}"


@durable.workflow()
async def refund_agent(order_id: str) -> str:
    result = await refunds.run(f"Refund order {order_id}")
    return result.output


# --- one tool per test: retries, unstorable results, renames -----------------------------------


def one_call(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Call the tool the prompt names, once; then answer with what it returned."""
    returned = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]
    if returned:
        return ModelResponse(parts=[TextPart(str(returned[0].content))])
    prompt = messages[0].parts[-1].content
    return ModelResponse(parts=[ToolCallPart(str(prompt), {})])


tools = Agent(FunctionModel(one_call), name="tools", capabilities=[Durability()])


@tools.tool_plain(metadata={"durable": {"retries": 2, "interval": 0.01}})
def flaky_tool() -> str:
    ledger("flaky_tool")
    if len(ledger_lines("flaky_tool")) < 3:
        raise ConnectionError("the service is down")
    return "up at last"


@tools.tool_plain
def unstorable_tool() -> object:
    ledger("unstorable_tool")
    return object()


@durable.workflow()
async def call_tool(name: str) -> str:
    return (await tools.run(name)).output


# The same agent before and after a rename: the flag file says which one this deploy runs.
old_name = Agent(FunctionModel(refund_script), name="refunds", capabilities=[Durability(), InboxApprovals()])
new_name = Agent(FunctionModel(refund_script), name="refunds_v2", capabilities=[Durability(), InboxApprovals()])
for _agent in (old_name, new_name):
    _agent.tool_plain(requires_approval=True)(issue_refund)


@durable.workflow()
async def renamed_agent(order_id: str) -> str:
    agent = new_name if flag("renamed") else old_name
    return (await agent.run(f"Refund order {order_id}")).output


# --- Pydantic AI's RequestInput, waiting durably for an answer from outside ---------------------


def hand_out_token(ctx: RunContext[None], requests: DeferredToolRequests, token: str) -> None:
    """RequestInput's ask: pass the token on (here, to the ledger) and let the run wait."""
    ledger(f"token:{token}")


asking = Agent(
    FunctionModel(refund_script),
    name="asking",
    capabilities=[Durability(), RequestInput(hand_out_token, name="approve_refund")],
)
asking.tool_plain(requires_approval=True)(issue_refund)


@durable.workflow()
async def asking_agent(order_id: str) -> str:
    return (await asking.run(f"Refund order {order_id}")).output


# --- a tool that asks a person a question, answered in the inbox ---------------------------------


def question_script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    returned = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart | RetryPromptPart)]
    if not returned:
        text = TextPart("The customer wants a voucher instead of a refund.")
        call = ToolCallPart("ask_support", {"question": "May we offer a 20 EUR voucher?"}, tool_call_id="q1")
        return ModelResponse(parts=[text, call])
    answer = returned[0]
    said = answer.model_response() if isinstance(answer, RetryPromptPart) else answer.content
    return ModelResponse(parts=[TextPart(f"{type(answer).__name__}: {said}")])


questions = Agent(FunctionModel(question_script), name="questions", capabilities=[Durability(), InboxApprovals()])


@questions.tool_plain(metadata={"inbox": {"title": "Question: {question}"}})
def ask_support(question: str) -> str:
    """Ask the support team; a person answers in the inbox."""
    raise CallDeferred(kind="question")


@durable.workflow()
async def questions_agent() -> str:
    return (await questions.run("A customer asks for a voucher")).output


# --- a dynamic toolset: discovery and calls are steps too -----------------------------------------


def _weather_tools(ctx: RunContext[None]) -> FunctionToolset[None]:
    toolset: FunctionToolset[None] = FunctionToolset()

    @toolset.tool_plain
    def weather(city: str) -> str:
        ledger(f"weather:{city}")
        return f"sunny in {city}"

    return toolset


def weather_script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    returned = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]
    if returned:
        return ModelResponse(parts=[TextPart(str(returned[0].content))])
    return ModelResponse(parts=[ToolCallPart("weather", {"city": "Oslo"}, tool_call_id="w1")])


forecaster = Agent(
    FunctionModel(weather_script),
    name="forecaster",
    toolsets=[DynamicToolset(_weather_tools, id="weather")],
    capabilities=[Durability()],
)


@durable.workflow()
async def forecast() -> str:
    return (await forecaster.run("Weather in Oslo?")).output


# --- an agent whose (plain, sync) tool runs another agent with run_sync ---------------------------


helper = Agent(FunctionModel(lambda messages, info: ModelResponse(parts=[TextPart("42")])), name="helper")


@tools.tool_plain
def ask_helper() -> str:
    """Runs another agent from a plain tool: a nested event loop inside the run's own."""
    return f"helper says {run_sync(helper, 'question').output}"
