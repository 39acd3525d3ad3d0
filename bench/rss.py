"""worker_rss_growth_mb_100k: a worker's resident memory after 100,000 runs minus after 1,000
(--quick: 600 and 100), so that what the first runs load (modules, caches, connections) is
not counted and what every run leaves behind is."""

import psutil

from . import env
from .harness import Bench
from .parked import insert
from .report import Figure
from .throughput import finished
from .workers import Workers, wait_for
from .workflows import three_steps


def run(bench: Bench) -> list[Figure]:
    first, total = bench.size(100, 1000), bench.size(600, 100_000)
    env.reset()
    with Workers(bench.url) as workers:
        proc = psutil.Process(workers.start(concurrency=8).pid)
        insert(first, three_steps)
        wait_for(lambda: finished() >= first, timeout=600, what=f"{first} runs", pause=0.2, workers=workers)
        base = proc.memory_info().rss / 2**20
        insert(total - first, three_steps)
        wait_for(lambda: finished() >= total, timeout=3600, what=f"{total} runs", pause=0.5, workers=workers)
        grown = proc.memory_info().rss / 2**20 - base
    note = f"RSS {base:.1f} MB after {first:,} 3-step runs; bulk-inserted, one worker (8 threads) runs them"
    return [Figure("worker_rss_growth_mb_100k", grown, "MB", size=total, note=note)]
