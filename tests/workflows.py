"""Importable sample workflows the tests start (workers import them by path)."""

import os
from pathlib import Path

import durable

LEDGER = os.environ.get("DURABLE_TEST_LEDGER", "")


def ledger(entry: str) -> None:
    """Append a side effect to the ledger file, so tests can count how often a step ran."""
    path = os.environ.get("DURABLE_TEST_LEDGER")
    if path:
        with Path(path).open("a") as f:
            f.write(entry + "\n")
            f.flush()
            os.fsync(f.fileno())


@durable.step()
def add(a: int, b: int) -> int:
    ledger(f"add:{durable.workflow_id()}:{a}+{b}")
    return a + b


@durable.workflow()
def adder(a: int, b: int) -> int:
    return add(a, b)


@durable.workflow()
def waiter(topic: str = "", timeout: float | None = 60.0) -> object:
    durable.set_event("status", "waiting")
    msg = durable.recv(topic, timeout=timeout)
    durable.set_event("status", "done")
    return msg


@durable.workflow()
def sleeper(seconds: float) -> str:
    before = durable.now()
    durable.sleep(seconds)
    after = durable.now()
    return f"{(after - before).total_seconds():.3f}"
