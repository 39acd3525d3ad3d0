"""agent_run_ms: a Pydantic AI agent run (4 model requests, 3 tool calls, an instant FunctionModel),
timed inside the run, ours (durable.pydantic_ai.Durability) against DBOS's DBOSDurability."""

import statistics

import durable

from . import env
from .harness import Bench
from .report import Figure
from .workers import Workers
from .workflows import agent_run


def run(bench: Bench) -> list[Figure]:
    n = bench.size(20, 200)
    env.reset()
    with Workers(bench.url) as workers:
        workers.start()
        for _ in range(5):  # warm-up: imports, connections, Pydantic AI's first-run caches
            durable.start(agent_run).result(timeout=120)
        per_run = [durable.start(agent_run).result(timeout=120) * 1000 for _ in range(n)]
    dbos = bench.dbos.measure("agent_run", n=n).get("value")
    return [Figure("agent_run_ms", statistics.median(per_run), "ms", dbos=dbos, size=n)]
