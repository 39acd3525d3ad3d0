"""The workloads, as durable workflows a worker subprocess imports by path.

``bench/dbos_side.py`` defines the same workloads for DBOS.
"""

import os
import time
from typing import Any

from django.db import connection

import durable


@durable.step()
def noop() -> None:
    return None


@durable.workflow()
def many_steps(n: int) -> float:
    """n no-op steps; returns the seconds they took, measured inside the run."""
    began = time.perf_counter()
    for _ in range(n):
        noop()
    return time.perf_counter() - began


@durable.workflow()
def three_steps() -> int:
    noop()
    noop()
    noop()
    return 3


@durable.step()
def stamp() -> float:
    return time.time()


@durable.workflow()
def woken(topic: str = "wake") -> float:
    """Parks in recv; returns the wall-clock moment recv returned (the step after it records it)."""
    durable.recv(topic, timeout=3600)
    return stamp()


@durable.workflow()
def parked(topic: str = "never") -> object:
    """Waits a week for a message nobody sends."""
    return durable.recv(topic, timeout=7 * 24 * 3600)


@durable.step()
def mark() -> None:
    return None


@durable.step()
def hold() -> None:
    """In a worker started with BENCH_HOLD set, block like a very slow external call (until the
    process is killed); elsewhere return at once. The connection is closed first, as a step
    waiting minutes on an API should: the server allows only so many."""
    if not os.environ.get("BENCH_HOLD"):
        return
    connection.close()
    while True:
        time.sleep(60)


@durable.workflow()
def held() -> str:
    mark()
    hold()
    return "done"


@durable.workflow()
def asking_agent(i: int) -> str:
    """An agent that asks the inbox to approve a refund and waits for the decision."""
    from inbox import ask

    decision = ask(
        f"Refund order #{i}?",
        f"The customer of order **#{i}** asks for a refund of {10 + i % 90} EUR.",
        action="refund",
        arguments={"order": i, "amount": 10 + i % 90},
        timeout=7 * 24 * 3600 + i,
    )
    return str(decision.outcome)


# --- agent_run_ms: a Pydantic AI agent with three tool calls on an instant model ----------------


def _three_tools(messages: list[Any], info: Any) -> Any:
    """Call tool_a, tool_b and tool_c one after the other, then answer: 4 model requests."""
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart

    done = sum(isinstance(p, ToolReturnPart) for m in messages for p in m.parts)
    if done < 3:
        return ModelResponse(parts=[ToolCallPart(f"tool_{'abc'[done]}", {"x": done}, tool_call_id=f"c{done}")])
    return ModelResponse(parts=[TextPart("done")])


def new_bench_agent(durable: bool = True) -> Any:
    """The benchmark's agent; ``durable=False``: the same agent, model and tools without durability."""
    from pydantic_ai import Agent
    from pydantic_ai.models.function import FunctionModel

    from durable.pydantic_ai import Durability

    agent: Any = Agent(FunctionModel(_three_tools), name="bench", capabilities=[Durability()] if durable else [])
    for name in ("tool_a", "tool_b", "tool_c"):
        agent.tool_plain(name=name)(_tool)
    return agent


def _tool(x: int) -> int:
    return x + 1


bench_agent = new_bench_agent()


@durable.workflow()
async def agent_run() -> float:
    """One agent run: 4 model requests and 3 tool calls, each a step; returns its seconds."""
    began = time.perf_counter()
    await bench_agent.run("go")
    return time.perf_counter() - began


@durable.workflow()
def deciding_agent(i: int) -> float:
    """Asks the inbox, then returns the wall-clock moment its next step started."""
    from inbox import ask

    ask(f"Deploy build #{i}?", f"Build **#{i}** passed its checks.", action="deploy", arguments={"build": i},
        timeout=3600)  # fmt: skip
    return stamp()
