"""takeover_s_1k: a worker holding 1,000 in-flight runs is SIGKILLed; how long until another
worker has finished them all. Its lease bounds when the others may start."""

import time

from django.db.models import Count

import durable
from durable.models import Checkpoint, Status, WorkflowRun

from . import env
from .harness import Bench
from .report import Figure
from .workers import Workers, wait_for
from .workflows import held


def run(bench: Bench) -> list[Figure]:
    n, lease = bench.size(50, 1000), 5.0
    batch = 50  # runs started at once, so connections opened at once stay under the server's limit
    env.reset()
    with Workers(bench.url) as workers:
        doomed = workers.start(concurrency=n, lease=lease, env={"BENCH_HOLD": "1"})
        for first in range(0, n, batch):
            for _ in range(first, min(n, first + batch)):
                durable.start(held)
            target = min(n, first + batch)
            wait_for(
                lambda t=target: marked() >= t, timeout=120, what=f"{target} runs to be in flight", workers=workers
            )
        workers.start(lease=lease)  # the survivor: idle, since the doomed worker holds every run
        states = dict(WorkflowRun.objects.values_list("status").annotate(n=Count("id")))
        running = states.get(Status.RUNNING, 0)
        if running < n:
            raise RuntimeError(f"only {running} of {n} runs were in flight on the worker to kill: {states}")
        workers.kill(doomed)
        killed = time.perf_counter()
        wait_for(
            lambda: done() >= n, timeout=lease + 600, what=f"{n} runs to be taken over", pause=0.02, workers=workers
        )
        took = time.perf_counter() - killed
    return [
        Figure(
            "takeover_s_1k",
            took,
            "s",
            size=n,
            note=f"lease {lease:g} s; when killed, runs by status: {states}",
            extra={"lease_s": lease},
        )
    ]


def marked() -> int:
    return Checkpoint.objects.filter(name="mark", seq=0).count()


def done() -> int:
    return WorkflowRun.objects.filter(status=Status.SUCCESS).count()
