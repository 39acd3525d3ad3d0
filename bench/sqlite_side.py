"""Our side of the SQLite figures, in a process of its own: the benchmark's own process is
configured for PostgreSQL, and Django is configured once per process.

``python -m bench.sqlite_side FIGURE '{"n": ...}'`` with DATABASE_URL=sqlite:///FILE prints one
JSON object. One worker, started as ``make run`` starts it (``manage.py durable_worker`` with the
default settings: 8 threads, a poll every second).
"""

import json
import os
import statistics
import sys
import time

from .env import PRODUCTION_LIKE


def setup() -> str:
    os.environ.update(PRODUCTION_LIKE)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    return os.environ["DATABASE_URL"]


def wake(samples: int) -> dict[str, float]:
    """From ``send`` until the parked run's ``recv`` returns, one run at a time."""
    url = setup()
    import durable

    from .wake import percentile, waiting
    from .workers import Workers, wait_for
    from .workflows import woken

    with Workers(url) as workers:
        workers.start(concurrency=8, poll=1.0, lease=30.0)
        handles = [durable.start(woken) for _ in range(samples)]
        wait_for(lambda: waiting() >= samples, timeout=120, what=f"{samples} runs to park", workers=workers)
        latencies = []
        for handle in handles:
            sent = time.time()
            durable.send(handle.id, "go", topic="wake")
            latencies.append((handle.result(timeout=60) - sent) * 1000)
    latencies.sort()
    return {"p50": statistics.median(latencies), "p99": percentile(latencies, 0.99)}


def throughput(n: int) -> dict[str, float]:
    """3-step workflows started by one client thread, until every one has finished."""
    url = setup()
    import durable

    from .throughput import finished
    from .workers import Workers, wait_for
    from .workflows import three_steps

    with Workers(url) as workers:
        workers.start(concurrency=8, poll=1.0, lease=30.0)
        for handle in [durable.start(three_steps) for _ in range(20)]:
            handle.result(timeout=120)
        began = time.perf_counter()
        for _ in range(n):
            durable.start(three_steps)
        wait_for(lambda: finished() >= n + 20, timeout=600, what=f"{n} workflows", pause=0.02, workers=workers)
        return {"value": n / (time.perf_counter() - began)}


FIGURES = {"wake": wake, "throughput": throughput}

if __name__ == "__main__":
    figure, params = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    print(json.dumps(FIGURES[figure](**params)), flush=True)
