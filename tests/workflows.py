"""Importable sample workflows the tests start (workers import them by path)."""

import os
import random
import time
from pathlib import Path

import durable


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


# --- helpers the samples use: files next to the ledger act as flags and gates ---------------


def ledger_lines(prefix: str = "") -> list[str]:
    path = os.environ.get("DURABLE_TEST_LEDGER")
    if not path:
        return []
    return [line for line in Path(path).read_text().splitlines() if line.startswith(prefix)]


def _side_file(name: str) -> Path:
    path = os.environ.get("DURABLE_TEST_LEDGER")
    if not path:
        raise RuntimeError("set DURABLE_TEST_LEDGER (use the `ledger` fixture)")
    return Path(path).parent / name


def flag(name: str) -> bool:
    """A switch the test flips by creating a file, seen by in-process and subprocess workers."""
    return _side_file(name).exists()


def set_flag(name: str) -> None:
    _side_file(name).touch()


def wait_for_gate(name: str, timeout: float = 60.0) -> None:
    """Block (inside a step) until the test opens the gate, so it can act while a step runs."""
    deadline = time.monotonic() + timeout
    while not flag(name):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {name} was never opened")
        time.sleep(0.01)


class PaymentDeclined(Exception):
    """A user exception that must round-trip through the database with its type and message."""


# --- steps ----------------------------------------------------------------------------------


@durable.step()
def double(x: int) -> int:
    return 2 * x


@durable.step()
def record(label: str) -> str:
    ledger(f"{durable.workflow_id()}:{label}")
    return label


@durable.step()
def blocking_record(label: str, gate: str) -> str:
    ledger(f"{durable.workflow_id()}:{label}:start")
    wait_for_gate(gate)
    ledger(f"{durable.workflow_id()}:{label}:end")
    return label


@durable.step(retries=3, interval=0.05, backoff=2.0)
def flaky(fail_times: int) -> str:
    sid = durable.step_id()
    ledger(f"flaky {sid} {time.time()}")
    attempt = len(ledger_lines(f"flaky {sid} "))
    if attempt <= fail_times:
        raise ConnectionError(f"attempt {attempt} failed")
    return f"ok after {attempt}"


@durable.step(retries=2, interval=0.01)
def always_fails() -> None:
    ledger(f"always_fails {durable.workflow_id()}")
    raise PaymentDeclined("the card was declined")


@durable.step()
def returns_a_function() -> object:
    return lambda: 1


@durable.step()
def ids() -> tuple[str, str]:
    return durable.workflow_id(), durable.step_id()


# --- workflows ------------------------------------------------------------------------------


@durable.workflow()
def retrying(fail_times: int) -> str:
    return flaky(fail_times)


@durable.workflow()
def survives_failed_step() -> str:
    try:
        always_fails()
    except PaymentDeclined as exc:
        caught = f"{type(exc).__name__}: {exc}"
    durable.recv("go", timeout=None)  # parks, so the run replays past the failed step
    return caught


@durable.workflow()
def fails(reason: str) -> None:
    raise PaymentDeclined(reason)


@durable.workflow()
def unstorable_step_result() -> str:
    returns_a_function()
    record("after")
    return "unreachable"


@durable.workflow()
def unstorable_result() -> object:
    return lambda: 1


@durable.workflow()
def doubles(x: int) -> int:
    return double(x)


@durable.workflow()
def who_am_i() -> list[object]:
    return [durable.workflow_id(), ids(), ids()]


@durable.workflow()
def three_steps() -> list[str]:
    return [record("a"), record("b"), record("c")]


@durable.workflow()
def gated(gate: str) -> list[str]:
    return [record("a"), blocking_record("b", gate), record("c")]


@durable.workflow()
def variant() -> str:
    """Its first step depends on a flag file: flipping it while the run waits makes replay diverge."""
    if flag("variant-b"):
        double(1)
    else:
        record("a")
    durable.recv("go", timeout=None)
    return "done"


@durable.workflow()
def checks_flag(name: str) -> list[str]:
    first = record("first")
    if not flag(name):
        raise RuntimeError(f"flag {name} is not set")
    return [first, record("second")]


@durable.workflow()
def step_fails_until_flag(name: str) -> list[str]:
    return [record("first"), needs_flag(name), record("third")]


@durable.step()
def needs_flag(name: str) -> str:
    ledger(f"{durable.workflow_id()}:needs_flag")
    if not flag(name):
        raise RuntimeError(f"flag {name} is not set")
    return name


@durable.workflow()
def collect(topic: str, count: int, timeout: float | None = 10.0) -> list[object]:
    return [durable.recv(topic, timeout=timeout) for _ in range(count)]


@durable.workflow()
def two_topics() -> list[object]:
    b = durable.recv("b", timeout=30)
    a = durable.recv("a", timeout=30)
    return [a, b]


@durable.workflow()
def sends_then_waits(target: str) -> bool:
    sent = durable.send(target, "hello", topic="greet")
    durable.recv("go", timeout=None)
    return sent


@durable.workflow()
def remembers_now() -> object:
    first = durable.now()
    durable.recv("go", timeout=None)
    return first


@durable.workflow()
def publisher(values: list[object]) -> str:
    for value in values:
        durable.set_event("progress", value)
    durable.recv("go", timeout=None)
    durable.set_event("progress", "final")
    return "ok"


@durable.workflow()
def reads_event(other: str, key: str) -> object:
    value = durable.get_event(other, key)
    durable.recv("go", timeout=None)
    return value


@durable.workflow()
def parent_of_adder(a: int, b: int) -> list[object]:
    child = durable.start(adder, a, b)
    durable.recv("go", timeout=None)  # parks between start and wait: replay passes the start again
    return [child.id, child.result()]


@durable.workflow()
def parent_of_waiter(topic: str) -> list[object]:
    child = durable.start(waiter, topic, None)
    return [child.id, child.result()]


@durable.workflow()
def parent_of_failure() -> str:
    child = durable.start(fails, "child said no")
    try:
        child.result()
    except PaymentDeclined as exc:
        return f"caught {exc}"
    return "no error"


@durable.workflow()
def parks(topic: str = "wake") -> object:
    return durable.recv(topic, timeout=None)


@durable.step()
def note_timeout(msg: object) -> None:
    ledger(f"timeout {durable.workflow_id()} {msg!r}")


@durable.workflow()
def times_out(seconds: float) -> object:
    msg = durable.recv("never", timeout=seconds)
    note_timeout(msg)
    return msg


# --- queues ---------------------------------------------------------------------------------

limited = durable.Queue("tests-limited", concurrency=2)
one_per_worker = durable.Queue("tests-one-per-worker", worker_concurrency=1)


@durable.step()
def busy(label: str, seconds: float) -> str:
    ledger(f"start {label} {os.getpid()}")
    time.sleep(seconds)
    ledger(f"end {label} {os.getpid()}")
    return label


@durable.workflow()
def busy_run(label: str, seconds: float) -> str:
    return busy(label, seconds)


# --- crash tests ----------------------------------------------------------------------------


@durable.step()
def chaos_step(i: int, value: int) -> int:
    wid, pid = durable.workflow_id(), os.getpid()
    ledger(f"start {wid} {i} {pid}")
    time.sleep(random.uniform(0.005, 0.04))
    ledger(f"end {wid} {i} {pid}")
    return value + i


@durable.workflow()
def five_steps(x: int) -> int:
    for i in range(1, 6):
        x = chaos_step(i, x)
    return x


@durable.workflow()
def publishes_unstorable() -> None:
    durable.set_event("callback", lambda: 1)
