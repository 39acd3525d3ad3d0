"""parked_100k_threads/_rss_mb: runs parked in recv hold no worker thread and no memory.

The runs are started in batches with the statement ``durable.start`` executes (``insert``), and a
real worker executes each up to its recv and parks it; parked_100k_park_s is how long that took.
"""

import time
from collections.abc import Callable
from typing import Any

import psutil
from django.db import transaction
from django.utils import timezone

from durable import pgsql, serialization, store
from durable.conf import get_settings
from durable.models import Status, WorkflowRun, new_id
from durable.queues import DEFAULT
from durable.records import NewRun

from . import env
from .harness import Bench
from .report import Figure
from .workers import Workers, wait_for
from .workflows import parked

WARM = 50


def run(bench: Bench) -> list[Figure]:
    n = bench.parked_runs or bench.size(300, 100_000)
    env.reset()
    with Workers(bench.url) as workers:
        # 16 threads: parking is commit-bound, and more concurrent commits share each WAL flush.
        proc = psutil.Process(workers.start(concurrency=16).pid)
        insert(WARM)  # warm-up: the pool's threads exist, the modules are imported
        wait_for(lambda: waiting() >= WARM, timeout=120, what="the warm-up runs to park", pause=0.05, workers=workers)
        threads, rss = proc.num_threads(), proc.memory_info().rss
        began = time.perf_counter()
        insert_s = insert(n)
        wait_for(settled, timeout=3600, what=f"{n} runs to park", pause=0.05, workers=workers)
        park_s = time.perf_counter() - began
        if (parked := waiting()) != n + WARM:
            raise RuntimeError(f"{n + WARM - parked} of the runs did not park (see the worker's log)")
        held = proc.num_threads() - threads
        grown = (proc.memory_info().rss - rss) / 2**20
        running = WorkflowRun.objects.filter(status=Status.RUNNING).count()
    dbos_n = min(n, 1000)
    dbos = bench.dbos.measure("parked", n=dbos_n)
    note = f"DBOS at {dbos_n:,} waiters; ours at {n:,}, with {running} runs left holding a lease"
    return [
        Figure(
            "park_per_s",
            n / park_s,
            "runs/s",
            size=n,
            note="runs started in batches of 1,000 with durable.start's statement (pipelined), claimed and parked "
            "in recv by one worker, from the first insert to the last park",
        ),
        Figure("parked_100k_threads", held, "threads", dbos=dbos.get("threads"), size=n, note=note),
        Figure("parked_100k_rss_mb", grown, "MB", dbos=dbos.get("rss_mb"), size=n),
        Figure(
            "parked_100k_park_s",
            park_s,
            "s",
            dbos=dbos.get("park_s"),
            size=n,
            note=f"ours: starting them took {insert_s:.1f} s, while 1 worker (16 threads) parked them; DBOS: "
            "start_workflow",
        ),
    ]


def insert(n: int, workflow: Any = parked, args: Callable[[int], list[Any]] = lambda i: [], batch: int = 1000) -> float:
    """Start n runs of ``workflow`` with the statement ``durable.start`` executes, pipelined in
    batches of one transaction each; return seconds. The workers are woken at each commit, as
    ``durable.start``'s commit wakes them."""
    began = time.perf_counter()
    attempts = workflow.max_recovery_attempts or get_settings().MAX_RECOVERY_ATTEMPTS
    for first in range(0, n, batch):
        now = timezone.now()
        runs = [
            NewRun(
                id=new_id(),
                name=workflow.name,
                target=workflow.target,
                inputs=serialization.dumps_call(args(i), {}, "The arguments"),
                queue=DEFAULT,  # as durable.start names it
                priority=0,
                parent_id=None,
                created_at=now,
                max_recovery_attempts=attempts,
            )
            for i in range(first, min(n, first + batch))
        ]
        with transaction.atomic(using=store.db()):
            pgsql.insert_runs(store.db(), runs)
    return time.perf_counter() - began


def waiting() -> int:
    return WorkflowRun.objects.filter(status=Status.WAITING).count()


def settled() -> bool:
    """No run is left to claim or executing: two index probes. Counting the parked runs instead
    read every one of them, 10-20 ms of the server's time per look at 60,000-100,000."""
    return not WorkflowRun.objects.filter(status__in=(Status.ENQUEUED, Status.RUNNING)).exists()
