"""floor_insert_ms: one autocommitted single-row INSERT through psycopg, the floor every
durable write sits on (a commit waits for the WAL to reach the disk)."""

import time

import psycopg

from . import env
from .harness import Bench
from .report import Figure


def run(bench: Bench) -> list[Figure]:
    n = bench.size(100, 2000)
    with psycopg.connect(env.libpq_url(env.OUR_DB), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_floor")
        conn.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, payload text NOT NULL)")
        for _ in range(50):
            conn.execute("INSERT INTO bench_floor (payload) VALUES (%s)", ["warm-up"])
        began = time.perf_counter()
        for i in range(n):
            conn.execute("INSERT INTO bench_floor (payload) VALUES (%s)", [f"row {i}"])
        elapsed = time.perf_counter() - began
        conn.execute("DROP TABLE bench_floor")
    return [Figure("floor_insert_ms", elapsed / n * 1000, "ms", size=n)]
