"""The DBOS Transact side of each figure: the same workloads, run by DBOS in this process.

Run only by ``bench.compare`` with the Python of the environment where ``dbos`` is installed
(never the project's): ``python bench/dbos_side.py FIGURE '{"n": ...}'``. Prints one JSON
object. DBOS_BENCH_URL names its own PostgreSQL database.
"""

import contextlib
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time

import psutil
import psycopg
from dbos import DBOS

URL = os.environ["DBOS_BENCH_URL"]


def configure(executor_id: str = "bench") -> None:
    DBOS(
        config={
            "name": "durable-bench",
            "system_database_url": URL,
            "log_level": "WARNING",
            "executor_id": executor_id,
        }
    )


# --- the workloads (the same as bench/workflows.py) ----------------------------------


@DBOS.step()
def noop() -> None:
    return None


@DBOS.workflow()
def many_steps(n: int) -> float:
    began = time.perf_counter()
    for _ in range(n):
        noop()
    return time.perf_counter() - began


@DBOS.workflow()
def three_steps() -> int:
    noop()
    noop()
    noop()
    return 3


@DBOS.step()
def stamp() -> float:
    return time.time()


@DBOS.workflow()
def woken(topic: str = "wake") -> float:
    DBOS.set_event("ready", 1)
    DBOS.recv(topic, timeout_seconds=3600)
    return stamp()


@DBOS.workflow()
def parked(topic: str = "never") -> object:
    DBOS.set_event("ready", 1)
    return DBOS.recv(topic, timeout_seconds=7 * 24 * 3600)


# agent_run: the same Pydantic AI agent as bench/workflows.py, with DBOS's own durability.
def _three_tools(messages, info):
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart

    done = sum(isinstance(p, ToolReturnPart) for m in messages for p in m.parts)
    if done < 3:
        return ModelResponse(parts=[ToolCallPart(f"tool_{'abc'[done]}", {"x": done}, tool_call_id=f"c{done}")])
    return ModelResponse(parts=[TextPart("done")])


def _tool(x: int) -> int:
    return x + 1


def _bench_agent():
    try:
        from pydantic_ai import Agent
        from pydantic_ai.durable_exec.dbos import DBOSDurability
        from pydantic_ai.models.function import FunctionModel
    except ImportError:  # pydantic-ai-slim is not installed beside dbos: no agent figure
        return None
    agent = Agent(FunctionModel(_three_tools), name="bench", capabilities=[DBOSDurability()])
    for name in ("tool_a", "tool_b", "tool_c"):
        agent.tool_plain(name=name)(_tool)
    return agent


bench_agent = _bench_agent()


@DBOS.workflow()
async def agent_run_workflow() -> float:
    began = time.perf_counter()
    await bench_agent.run("go")
    return time.perf_counter() - began


# --- the figures ------------------------------------------------------------------------


def wait_ready(count: int, timeout: float = 600) -> None:
    """Until ``count`` workflows have published 'ready' (they are about to block in recv)."""
    deadline = time.monotonic() + timeout
    if URL.startswith("sqlite"):
        import sqlite3

        conn, table = sqlite3.connect(URL.removeprefix("sqlite:///"), isolation_level=None), "workflow_events"
    else:
        conn, table = psycopg.connect(URL, autocommit=True), "dbos.workflow_events"
    with contextlib.closing(conn):
        while True:
            row = conn.execute(f"SELECT count(*) FROM {table} WHERE key = 'ready'").fetchone()
            if row and row[0] >= count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {row and row[0]} of {count} DBOS workflows reached recv")
            time.sleep(0.01)


def step_overhead(n: int, repeats: int) -> dict:
    DBOS.start_workflow(many_steps, 10).get_result()
    per_step = [DBOS.start_workflow(many_steps, n).get_result() / n * 1000 for _ in range(repeats)]
    return {"value": statistics.median(per_step), "samples": per_step}


def throughput(n: int) -> dict:
    for h in [DBOS.start_workflow(three_steps) for _ in range(20)]:
        h.get_result()
    began = time.perf_counter()
    handles = [DBOS.start_workflow(three_steps) for _ in range(n)]
    for h in handles:
        h.get_result()
    return {"value": n / (time.perf_counter() - began)}


def _throughput_child(index: int, n: int, barrier, out) -> None:
    configure(f"bench-{index}")
    DBOS.launch()
    for h in [DBOS.start_workflow(three_steps) for _ in range(10)]:
        h.get_result()
    barrier.wait()
    handles = [DBOS.start_workflow(three_steps) for _ in range(n)]
    for h in handles:
        h.get_result()
    out.put(time.time())
    DBOS.destroy()


def throughput_processes(n: int, procs: int) -> dict:
    """``procs`` DBOS processes, each starting and finishing its share of the n workflows."""
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(procs + 1), ctx.Queue()
    children = [ctx.Process(target=_throughput_child, args=(i, n // procs, barrier, out)) for i in range(procs)]
    for c in children:
        c.start()
    barrier.wait(timeout=120)
    began = time.time()
    ends = [out.get(timeout=600) for _ in children]
    for c in children:
        c.join(timeout=60)
    return {"value": (n // procs) * procs / (max(ends) - began)}


def wake(samples: int) -> dict:
    handles = [DBOS.start_workflow(woken) for _ in range(samples)]
    wait_ready(samples)
    latencies = []
    for h in handles:
        sent = time.time()
        DBOS.send(h.get_workflow_id(), "go", topic="wake")
        latencies.append((h.get_result() - sent) * 1000)
    latencies.sort()
    return {
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def parked_waiters(n: int) -> dict:
    me = psutil.Process()
    for h in [DBOS.start_workflow(three_steps) for _ in range(20)]:
        h.get_result()
    threads, rss = me.num_threads(), me.memory_info().rss
    began = time.perf_counter()
    for _ in range(n):
        DBOS.start_workflow(parked)
    wait_ready(n)
    seconds = time.perf_counter() - began
    return {
        "threads": me.num_threads() - threads,
        "rss_mb": (me.memory_info().rss - rss) / 2**20,
        "park_s": seconds,
    }


def agent_run(n: int) -> dict:
    import asyncio

    async def runs() -> list[float]:
        for _ in range(5):
            await (await DBOS.start_workflow_async(agent_run_workflow)).get_result()
        return [await (await DBOS.start_workflow_async(agent_run_workflow)).get_result() * 1000 for _ in range(n)]

    per_run = asyncio.run(runs())
    return {"value": statistics.median(per_run), "samples": per_run}


def _queue_worker(index: int, ready, stop) -> None:
    configure(f"bench-w{index}")
    DBOS.launch()
    DBOS.register_queue("bench", polling_interval_sec=0.05)
    ready.wait()
    stop.wait()
    os._exit(0)


def _client(n: int, barrier) -> None:
    from dbos import DBOSClient

    client = DBOSClient(system_database_url=URL)
    options = {"queue_name": "bench", "workflow_name": "three_steps"}
    client.enqueue(options)  # warm: connected
    barrier.wait()
    for _ in range(n - 1):
        client.enqueue(options)
    client.destroy()


def _succeeded() -> int:
    with psycopg.connect(URL, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM dbos.workflow_status WHERE status = 'SUCCESS'").fetchone()
        return int(row[0]) if row else 0


def throughput_clients(n: int, clients: int, procs: int) -> dict:
    """``clients`` DBOSClient processes enqueue n workflows between them on a queue that
    ``procs`` DBOS processes run."""
    ctx = multiprocessing.get_context("spawn")
    ready, stop, barrier = ctx.Barrier(procs + 1), ctx.Event(), ctx.Barrier(clients + 1)
    workers = [ctx.Process(target=_queue_worker, args=(i, ready, stop)) for i in range(procs)]
    for w in workers:
        w.start()
    ready.wait(timeout=120)
    share = n // clients
    children = [ctx.Process(target=_client, args=(share, barrier)) for _ in range(clients)]
    for c in children:
        c.start()
    deadline = time.monotonic() + 600
    barrier.wait(timeout=120)
    began = time.perf_counter()
    while _succeeded() < share * clients:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {_succeeded()} of {share * clients} DBOS workflows finished")
        time.sleep(0.02)
    elapsed = time.perf_counter() - began
    stop.set()
    for p in [*children, *workers]:
        p.join(timeout=60)
    return {"value": (share - 1) * clients / elapsed}


FIGURES = {
    "agent_run": agent_run,
    "step_overhead": step_overhead,
    "throughput": throughput,
    "wake": wake,
    "parked": parked_waiters,
}


def reset_database() -> None:
    if URL.startswith("sqlite"):
        return  # a fresh file each time (bench/sqlite.py)
    with psycopg.connect(URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'dbos'").fetchone()
        if exists:
            tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'dbos'").fetchall()
            names = [f"dbos.{t}" for (t,) in tables if t not in ("dbos_migrations", "alembic_version")]
            if names:
                conn.execute(f"TRUNCATE {', '.join(names)} CASCADE")


def main() -> None:
    figure, params = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    if figure in ("throughput_processes", "throughput_clients"):
        reset_database()
        result = {"throughput_processes": throughput_processes, "throughput_clients": throughput_clients}[figure](
            **params
        )
    else:
        reset_database()  # before launch, or launch would recover the last run's parked workflows
        configure()
        DBOS.launch()
        result = FIGURES[figure](**params)
    print(json.dumps(result), flush=True)
    # Parked DBOS workflows hold threads that would keep the process alive: leave at once.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    assert threading.current_thread() is threading.main_thread()
    main()
