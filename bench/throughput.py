"""workflows_per_s(_2w): 3-step workflows from start to result, with 1 (and 2) worker processes."""

import threading
import time

from django.db import connections

import durable
from durable.models import Status, WorkflowRun

from . import env
from .harness import Bench
from .report import Figure
from .workers import Workers, wait_for
from .workflows import three_steps


def run(bench: Bench) -> list[Figure]:
    n = bench.size(50, 1000)
    one = bench.paired(
        lambda: measure(bench, n, processes=1), lambda: bench.dbos.measure("throughput", n=n).get("value")
    )
    two = bench.paired(
        lambda: measure(bench, n, processes=2),
        lambda: bench.dbos.measure("throughput_processes", n=n, procs=2).get("value"),
    )
    return [
        one.figure("workflows_per_s", "wf/s", n),
        two.figure(
            "workflows_per_s_2w",
            "wf/s",
            n,
            note="ours: 2 worker processes, 2 threads starting half the workflows each; DBOS: 2 processes, "
            "each starting and running half the workflows",
        ),
    ]


def finished() -> int:
    return WorkflowRun.objects.filter(status=Status.SUCCESS).count()


def _start(count: int) -> None:
    try:
        for _ in range(count):
            durable.start(three_steps)
    finally:
        connections.close_all()


def measure(bench: Bench, n: int, processes: int) -> float:
    env.reset()
    with Workers(bench.url) as workers:
        for _ in range(processes):
            workers.start()
        warm = [durable.start(three_steps) for _ in range(20 * processes)]
        for handle in warm:
            handle.result(timeout=120)
        began = time.perf_counter()
        # As on DBOS's side, where each process starts its share: one starting thread per worker.
        starters = [threading.Thread(target=_start, args=(n // processes,)) for _ in range(processes)]
        for thread in starters:
            thread.start()
        for thread in starters:
            thread.join()
        n = n // processes * processes
        # Every 20 ms: the count is a scan that would take CPU from the worker measured.
        wait_for(
            lambda: finished() >= n + len(warm),
            timeout=600,
            what=f"{n} workflows to finish",
            pause=0.02,
            workers=workers,
        )
        return n / (time.perf_counter() - began)
