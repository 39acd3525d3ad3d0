"""agent_run_ms: a Pydantic AI agent run (4 model requests, 3 tool calls, an instant FunctionModel),
timed inside the run, ours (durable.pydantic_ai.Durability) against DBOS's DBOSDurability, in
pairs measured back to back (this machine's speed drifts)."""

import asyncio
import statistics
import time

import durable

from . import env
from .harness import Bench
from .report import Figure
from .workers import Workers
from .workflows import agent_run, new_bench_agent


def run(bench: Bench) -> list[Figure]:
    # 100 runs a round: the medians of 200 varied 30.6-40.3 ms between rounds (ours) anyway, and
    # the full run must stay inside its 20 minutes (19 min 49 s with 200 on a slow hour).
    n = bench.size(20, 100)
    paired = bench.paired(lambda: measure(bench, n), lambda: bench.dbos.measure("agent_run", n=n).get("value"))
    figure = paired.figure("agent_run_ms", "ms", n, note="median per run, timed inside the run")
    alone = plain(n)
    bound = "" if figure.dbos is None else f"; the goal, 0.3 x DBOS, is {0.3 * figure.dbos:.1f} ms"
    note = f"the same agent, model and tools without durability, in the bench's process{bound}"
    return [figure, Figure("agent_run_plain_ms", alone, "ms", size=n, note=note)]


def plain(n: int) -> float:
    """Pydantic AI's own cost: the median run of the same agent without durability, timed as
    ``agent_run`` times itself, after the same warm-up."""

    async def runs() -> float:
        agent = new_bench_agent(durable=False)
        for _ in range(5):
            await agent.run("go")
        seconds = []
        for _ in range(n):
            began = time.perf_counter()
            await agent.run("go")
            seconds.append(time.perf_counter() - began)
        return statistics.median(seconds) * 1000

    return asyncio.run(runs())


def measure(bench: Bench, n: int) -> float:
    env.reset()
    with Workers(bench.url) as workers:
        workers.start()
        for _ in range(5):  # warm-up: imports, connections, Pydantic AI's first-run caches
            durable.start(agent_run).result(timeout=120)
        return statistics.median(durable.start(agent_run).result(timeout=120) * 1000 for _ in range(n))
