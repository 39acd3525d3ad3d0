"""Real ``manage.py durable_worker`` subprocesses against the benchmark database."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from .env import PRODUCTION_LIKE

ROOT = Path(__file__).resolve().parent.parent


class Workers:
    """Starts worker processes; ``stop()`` (or leaving the ``with`` block) ends them."""

    def __init__(self, database_url: str) -> None:
        # BENCH_WORKER_PG_OPTIONS (e.g. "-c synchronous_commit=off") tries a server setting on
        # the workers' connections only, to see what an engine change would buy.
        options = os.environ.get("BENCH_WORKER_PG_OPTIONS")
        self.database_url = f"{database_url}?{urlencode({'options': options})}" if options else database_url
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log_dir = Path(tempfile.mkdtemp(prefix="durable-bench-"))

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(
        self, concurrency: int = 8, poll: float = 0.5, lease: float = 10.0, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        environ = {**os.environ, **PRODUCTION_LIKE, "DATABASE_URL": self.database_url, "PYTHONUNBUFFERED": "1"}
        environ.update(env or {})
        environ.setdefault("DURABLE_LOG_LEVEL", "WARNING")
        log = (self.log_dir / f"worker-{len(self.procs)}.log").open("wb")
        cmd = [
            sys.executable,
            "manage.py",
            "durable_worker",
            f"--concurrency={concurrency}",
            f"--poll-interval={poll}",
            f"--lease={lease}",
        ]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []

    def check(self) -> None:
        """Fail fast, with its log, if a worker died that nobody killed."""
        for proc in self.procs:
            if proc.poll() is not None and proc.returncode != -signal.SIGKILL:
                raise RuntimeError(f"a worker exited with code {proc.returncode}:\n{self.logs()[-3000:]}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log")))


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
