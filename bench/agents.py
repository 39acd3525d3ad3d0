"""agent_run_ms: a Pydantic AI agent run (4 model requests, 3 tool calls, an instant FunctionModel),
timed inside the run, ours (durable.pydantic_ai.Durability) against DBOS's DBOSDurability, in
pairs measured back to back (this machine's speed drifts)."""

import statistics

import durable

from . import env
from .harness import Bench
from .report import Figure
from .workers import Workers
from .workflows import agent_run


def run(bench: Bench) -> list[Figure]:
    # 100 runs a round: the medians of 200 varied 30.6-40.3 ms between rounds (ours) anyway, and
    # the full run must stay inside its 20 minutes (19 min 49 s with 200 on a slow hour).
    n = bench.size(20, 100)
    paired = bench.paired(lambda: measure(bench, n), lambda: bench.dbos.measure("agent_run", n=n).get("value"))
    return [paired.figure("agent_run_ms", "ms", n, note="median per run, timed inside the run")]


def measure(bench: Bench, n: int) -> float:
    env.reset()
    with Workers(bench.url) as workers:
        workers.start()
        for _ in range(5):  # warm-up: imports, connections, Pydantic AI's first-run caches
            durable.start(agent_run).result(timeout=120)
        return statistics.median(durable.start(agent_run).result(timeout=120) * 1000 for _ in range(n))
