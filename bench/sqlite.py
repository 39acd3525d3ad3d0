"""sqlite_wake_ms_p50 and sqlite_workflows_per_s: the embedded SQLite default (what ``make run``
uses), one worker with the default settings. Measured in subprocesses (``sqlite_side``), each on a
fresh database file; DBOS on an SQLite system database of its own."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .harness import Bench
from .report import Figure
from .workers import ROOT

# DBOS on SQLite wakes by its 1 s poll and runs 5-25 workflows a second: its full sizes alone
# would take a quarter of an hour. Its median settles at these sizes (the poll, a steady rate):
# over 5 rounds of 20 samples its wake medians were 1,002-1,009 ms, so 10 samples (10 s a round)
# keep the full run inside its 20 minutes.
DBOS_WAKE_SAMPLES, DBOS_WORKFLOWS = 10, 200


def run(bench: Bench) -> list[Figure]:
    samples, n = bench.size(10, 200), bench.size(50, 1000)
    dbos_samples, dbos_n = min(samples, DBOS_WAKE_SAMPLES), min(n, DBOS_WORKFLOWS)
    workdir = Path(tempfile.mkdtemp(prefix="durable-bench-sqlite-"))
    dbos_wake: list[float] = []

    def dbos_p50() -> float | None:
        measured = bench.dbos.measure("wake", samples=dbos_samples, url=_fresh(workdir, "dbos.sqlite3"))
        if "p99" in measured:
            dbos_wake.append(measured["p99"])
        return measured.get("p50")

    wake_p99: list[float] = []

    def ours_p50() -> float:
        measured = ours("wake", _fresh(workdir, "ours.sqlite3"), samples=samples)
        wake_p99.append(measured["p99"])
        return float(measured["p50"])

    wake = bench.paired(ours_p50, dbos_p50)
    throughput = bench.paired(
        lambda: float(ours("throughput", _fresh(workdir, "ours.sqlite3"), n=n)["value"]),
        lambda: bench.dbos.measure("throughput", n=dbos_n, url=_fresh(workdir, "dbos.sqlite3")).get("value"),
    )
    note = (
        "one worker as `make run` starts it (8 threads, 1 s poll); DBOS with an SQLite system database "
        f"({dbos_samples} wake samples, {dbos_n} workflows a round)"
    )
    return [
        wake.figure("sqlite_wake_ms_p50", "ms", samples, note=f"p99 {max(wake_p99):.3g} ms (worst round); {note}"),
        throughput.figure("sqlite_workflows_per_s", "wf/s", n, note="one starting thread"),
    ]


def _fresh(workdir: Path, name: str) -> str:
    """A new, empty database file: each round starts from nothing, as the PostgreSQL figures do."""
    for suffix in ("", "-wal", "-shm"):
        (workdir / f"{name}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{workdir / name}"


def ours(figure: str, url: str, **params: Any) -> dict[str, Any]:
    environ = {**os.environ, "DATABASE_URL": url}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.sqlite_side", figure, json.dumps(params)],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        timeout=1200,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the SQLite {figure} figure failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
