"""Real worker processes for tests and benchmarks: durability is proven against them, not mocks."""

import os
import signal
import subprocess
import sys
from pathlib import Path


class WorkerProcesses:
    """Starts ``manage.py durable_worker`` subprocesses on ``database_url``, logging to ``log_dir``."""

    def __init__(self, database_url: str, log_dir: Path, project_dir: Path, env: dict[str, str] | None = None) -> None:
        self.database_url = database_url
        self.log_dir = log_dir
        self.project_dir = project_dir
        self.env = env or {}
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        *extra: str,
        concurrency: int = 8,
        poll: float = 0.1,
        lease: float = 3.0,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        environ = {**os.environ, **self.env, **(env or {}), "DATABASE_URL": self.database_url, "PYTHONUNBUFFERED": "1"}
        log = (self.log_dir / f"worker-{len(self.procs)}.log").open("wb")
        options = [f"--concurrency={concurrency}", f"--poll-interval={poll}", f"--lease={lease}", *extra]
        cmd = [sys.executable, "manage.py", "durable_worker", *options]
        proc = subprocess.Popen(cmd, cwd=self.project_dir, env=environ, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL: the worker gets no chance to hand anything back."""
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self, timeout: float = 30) -> None:
        """SIGTERM every worker still running and wait for it (SIGKILL after ``timeout``)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def check(self) -> None:
        """Fail fast, with the logs, if a worker died that nobody killed."""
        for proc in self.procs:
            if proc.poll() is not None and proc.returncode not in (0, -signal.SIGKILL):
                raise RuntimeError(f"a worker exited with code {proc.returncode}:\n{self.logs()[-3000:]}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log")))
