"""workflows_per_s(_2w): 3-step workflows from start to result, with 1 (and 2) worker processes."""

import os
import subprocess
import sys
import threading
import time

from django.db import connections

import durable
from durable.models import Status, WorkflowRun

from . import env
from .harness import Bench
from .report import Figure
from .workers import ROOT, Workers, wait_for
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
    clients = bench.paired(
        lambda: measure_clients(bench, n, clients=4, processes=2),
        lambda: bench.dbos.measure("throughput_clients", n=n, clients=4, procs=2).get("value"),
    )
    return [
        one.figure("workflows_per_s", "wf/s", n),
        clients.figure(
            "workflows_per_s_4c",
            "wf/s",
            n,
            note="4 client processes start the workflows, 2 worker processes run them; DBOS: 4 DBOSClient "
            "processes enqueue them on a queue that 2 DBOS processes run (polling every 50 ms)",
        ),
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


def measure_clients(bench: Bench, n: int, clients: int, processes: int) -> float:
    """``clients`` processes start n workflows between them (each its share, after a warm-up
    start), ``processes`` workers run them: from the moment the clients are told to go."""
    env.reset()
    share = n // clients
    with Workers(bench.url) as workers:
        for _ in range(processes):
            workers.start()
        for handle in [durable.start(three_steps) for _ in range(20 * processes)]:
            handle.result(timeout=120)
        environ = {**os.environ, "DATABASE_URL": bench.url}
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.client", str(share)],
                cwd=ROOT,
                env=environ,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(clients)
        ]
        try:
            for proc in procs:
                assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", "a client failed"
            began = time.perf_counter()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            total = share * clients + 20 * processes
            wait_for(lambda: finished() >= total, timeout=600, what=f"{n} workflows", pause=0.02, workers=workers)
            return (share - 1) * clients / (time.perf_counter() - began)  # each warm-up start came before
        finally:
            for proc in procs:
                proc.wait(timeout=60)
