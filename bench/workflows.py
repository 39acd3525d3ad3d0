"""The workloads, as durable workflows a worker subprocess imports by path.

``bench/dbos_side.py`` defines the same workloads for DBOS.
"""

import os
import time

from django.db import connection

import durable


@durable.step()
def noop() -> None:
    return None


@durable.workflow()
def many_steps(n: int) -> float:
    """n no-op steps; returns the seconds they took, measured inside the run."""
    began = time.perf_counter()
    for _ in range(n):
        noop()
    return time.perf_counter() - began


@durable.workflow()
def three_steps() -> int:
    noop()
    noop()
    noop()
    return 3


@durable.step()
def stamp() -> float:
    return time.time()


@durable.workflow()
def woken(topic: str = "wake") -> float:
    """Parks in recv; returns the wall-clock moment recv returned (the step after it records it)."""
    durable.recv(topic, timeout=3600)
    return stamp()


@durable.workflow()
def parked(topic: str = "never") -> object:
    """Waits a week for a message nobody sends."""
    return durable.recv(topic, timeout=7 * 24 * 3600)


@durable.step()
def mark() -> None:
    return None


@durable.step()
def hold() -> None:
    """In a worker started with BENCH_HOLD set, block like a very slow external call (until the
    process is killed); elsewhere return at once. The connection is closed first, as a step
    waiting minutes on an API should: the server allows only so many."""
    if not os.environ.get("BENCH_HOLD"):
        return
    connection.close()
    while True:
        time.sleep(60)


@durable.workflow()
def held() -> str:
    mark()
    hold()
    return "done"


@durable.workflow()
def asking_agent(i: int) -> str:
    """An agent that asks the inbox to approve a refund and waits for the decision."""
    from inbox import ask

    decision = ask(
        f"Refund order #{i}?",
        f"The customer of order **#{i}** asks for a refund of {10 + i % 90} EUR.",
        action="refund",
        arguments={"order": i, "amount": 10 + i % 90},
        timeout=7 * 24 * 3600 + i,
    )
    return str(decision.outcome)


@durable.workflow()
def deciding_agent(i: int) -> float:
    """Asks the inbox, then returns the wall-clock moment its next step started."""
    from inbox import ask

    ask(f"Deploy build #{i}?", f"Build **#{i}** passed its checks.", action="deploy", arguments={"build": i},
        timeout=3600)  # fmt: skip
    return stamp()
