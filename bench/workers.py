"""Real ``manage.py durable_worker`` subprocesses against the benchmark database."""

import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from durable.testing import WorkerProcesses

from .env import PRODUCTION_LIKE

ROOT = Path(__file__).resolve().parent.parent


class Workers(WorkerProcesses):
    """Worker processes configured as deployed; ``stop()`` (or leaving the ``with`` block) ends them."""

    def __init__(self, database_url: str) -> None:
        # BENCH_WORKER_PG_OPTIONS (e.g. "-c synchronous_commit=off") tries a server setting on
        # the workers' connections only, to see what an engine change would buy.
        options = os.environ.get("BENCH_WORKER_PG_OPTIONS")
        url = f"{database_url}?{urlencode({'options': options})}" if options else database_url
        log_dir = Path(tempfile.mkdtemp(prefix="durable-bench-"))
        super().__init__(url, log_dir, ROOT, env={**PRODUCTION_LIKE, "DURABLE_LOG_LEVEL": "WARNING"})

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(  # type: ignore[override]
        self, concurrency: int = 8, poll: float = 0.5, lease: float = 10.0, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        return super().start(concurrency=concurrency, poll=poll, lease=lease, env=env)

    def stop(self) -> None:
        self.stop_all(timeout=20)
        self.procs = []


def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, pause: float = 0.005, workers: Workers | None = None
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds,
    or at once if one of ``workers`` died."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if workers is not None:
            workers.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(pause)
