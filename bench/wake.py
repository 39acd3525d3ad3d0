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
    rounds: list[list[float]] = []

    def ours() -> float:
        rounds.append(measure(bench.url, samples))
        return statistics.median(rounds[-1])

    dbos_p99: list[float] = []

    def dbos() -> float | None:
        measured = bench.dbos.measure("wake", samples=samples)
        if "p99" in measured:
            dbos_p99.append(measured["p99"])
        return measured.get("p50")

    p50 = bench.paired(ours, dbos)
    p99 = [percentile(sorted(r), 0.99) for r in rounds]
    return [
        p50.figure("wake_latency_ms_p50", "ms", samples),
        Figure(
            "wake_latency_ms_p99",
            statistics.median(p99),
            "ms",
            dbos=statistics.median(dbos_p99) if dbos_p99 else None,
            size=samples,
        ),
    ]


def measure(url: str, samples: int) -> list[float]:
    """Park ``samples`` runs in recv, then wake them one at a time: milliseconds each."""
    env.reset()
    with Workers(url) as workers:
        workers.start()
        handles = [durable.start(woken) for _ in range(samples)]
        wait_for(lambda: waiting() >= samples, timeout=120, what=f"{samples} runs to park in recv", workers=workers)
        latencies = []
        for handle in handles:
            sent = time.time()
            durable.send(handle.id, "go", topic="wake")
            latencies.append((handle.result(timeout=60) - sent) * 1000)
    return latencies


def waiting() -> int:
    return WorkflowRun.objects.filter(status=Status.WAITING).count()


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]
