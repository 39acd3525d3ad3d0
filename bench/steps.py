"""step_overhead_ms: a workflow of no-op steps, per step, timed inside the run."""

import statistics

import durable

from . import env
from .harness import Bench
from .report import Figure
from .workers import Workers
from .workflows import many_steps


def run(bench: Bench) -> list[Figure]:
    n, repeats = bench.size(30, 300), 3
    env.reset()
    with Workers(bench.url) as workers:
        workers.start()
        durable.start(many_steps, 10).result(timeout=120)  # warm-up: imports, connections
        per_step = [durable.start(many_steps, n).result(timeout=600) / n * 1000 for _ in range(repeats)]
    dbos = bench.dbos.measure("step_overhead", n=n, repeats=repeats).get("value")
    return [Figure("step_overhead_ms", statistics.median(per_step), "ms", dbos=dbos, size=n)]
