"""wake_latency_ms_p50/_p99: a parked run, from ``send`` to the moment its ``recv`` returns
(the step right after recv records the wall clock)."""

import statistics
import time

import durable
from durable.models import Status, WorkflowRun

from . import env
from .harness import Bench
from .report import Figure
from .workers import Workers, wait_for
from .workflows import woken


def run(bench: Bench) -> list[Figure]:
    samples = bench.size(10, 200)
    env.reset()
    with Workers(bench.url) as workers:
        workers.start()
        handles = [durable.start(woken) for _ in range(samples)]
        wait_for(lambda: waiting() >= samples, timeout=120, what=f"{samples} runs to park in recv", workers=workers)
        latencies = []
        for handle in handles:
            sent = time.time()
            durable.send(handle.id, "go", topic="wake")
            latencies.append((handle.result(timeout=60) - sent) * 1000)
    latencies.sort()
    dbos = bench.dbos.measure("wake", samples=samples)
    return [
        Figure("wake_latency_ms_p50", statistics.median(latencies), "ms", dbos=dbos.get("p50"), size=samples),
        Figure("wake_latency_ms_p99", percentile(latencies, 0.99), "ms", dbos=dbos.get("p99"), size=samples),
    ]


def waiting() -> int:
    return WorkflowRun.objects.filter(status=Status.WAITING).count()


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]
