"""`python -m bench --quick` still runs and prints every figure, so the harness cannot rot.

It needs PostgreSQL (the benchmarks' only database) and runs in the PostgreSQL pass of the
suite, against its own database. DBOS is left out here (--no-dbos): it lives in .venv-bench.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

FIGURES = {
    "floor_insert_ms",
    "step_overhead_ms",
    "workflows_per_s",
    "workflows_per_s_2w",
    "wake_latency_ms_p50",
    "wake_latency_ms_p99",
    "parked_100k_threads",
    "parked_100k_rss_mb",
    "parked_100k_park_s",
    "inbox_list_ms_100",
    "inbox_list_queries_100",
    "inbox_list_ms_10k",
    "inbox_list_queries_10k",
    "takeover_s_1k",
    "agent_run_ms",
    "agent_run_plain_ms",
    "park_per_s",
    "workflows_per_s_4c",
    "decision_to_agent_ms_p50",
    "decision_to_agent_ms_p99",
    "inbox_list_ms_100k",
    "inbox_list_queries_100k",
    "worker_rss_growth_mb_100k",
    "sqlite_wake_ms_p50",
    "sqlite_workflows_per_s",
}


@pytest.fixture
def bench_database(postgres_only):
    """A database name of this run's own (two runs on one server must not share it), dropped after."""
    from bench import env

    name = f"durable_bench_quicktest_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    yield name
    import psycopg

    with psycopg.connect(env.libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_quick_benchmark_prints_every_figure(bench_database):
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-dbos"],
        cwd=ROOT,
        env={**os.environ, "BENCH_DB_NAME": bench_database},
        capture_output=True,
        text=True,
        timeout=420,  # a dozen groups of figures, each starting workers, on a shared machine
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    figures = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            data = json.loads(line)
            figures[data["figure"]] = data
    assert set(figures) == FIGURES
    for name, data in figures.items():
        assert isinstance(data["value"], (int, float)), f"{name} has no value: {data}"
    # What the design promises regardless of the machine's speed:
    assert figures["parked_100k_threads"]["value"] == 0
    assert figures["inbox_list_queries_100"]["value"] > 0
    assert figures["inbox_list_queries_10k"]["value"] == figures["inbox_list_queries_100"]["value"]
    assert figures["inbox_list_queries_100k"]["value"] == figures["inbox_list_queries_100"]["value"]
    assert "figure" in proc.stdout and "goal" in proc.stdout  # the table follows the JSON lines
