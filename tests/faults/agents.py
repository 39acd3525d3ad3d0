"""Sample agents for the fault-injection tests. Worker subprocesses import them by path.

Every step writes a ``start`` and an ``end`` line to the side-effect ledger (with the worker's
pid), so a test can tell a step that ran twice because a kill landed inside it from one that
ran twice for no reason.
"""

import os
import random
import time

import durable
from tests.workflows import ledger as ledger_line


def side_effect(label: str, pause: float = 0.1) -> None:
    """One attempt of a step's external side effect, bracketed in the ledger."""
    sid = durable.step_id()
    ledger_line(f"start {sid} {label} {os.getpid()}")
    # Simulated I/O: the window in which a SIGKILL lands inside the step.
    time.sleep(random.uniform(0, pause))
    ledger_line(f"end {sid} {label} {os.getpid()}")


@durable.step()
def work(label: str, n: int) -> str:
    side_effect(label)
    return f"{label}:{n}"


# --- the mixed agent: steps, a child, send, recv with and without timeout, sleep, events ----


@durable.workflow()
def mixed_child(n: int) -> str:
    ping = durable.recv("ping", timeout=120)
    return work("child", ping["n"])


@durable.workflow()
def mixed_agent(n: int) -> dict:
    a = work("a", n)
    child = durable.start(mixed_child, n)
    durable.set_event("stage", "started")
    durable.send(child.id, {"n": n}, topic="ping")
    durable.send(durable.workflow_id(), n * 2, topic="self")
    echoed = durable.recv("self", timeout=120)
    nothing = durable.recv("never", timeout=0.3)
    durable.sleep(0.2)
    child_result = child.result()
    b = work("b", n)
    durable.set_event("stage", "done")
    return {"n": n, "a": a, "echo": echoed, "nothing": nothing, "child": child_result, "b": b}


def mixed_expected(n: int) -> dict:
    return {"n": n, "a": f"a:{n}", "echo": n * 2, "nothing": None, "child": f"child:{n}", "b": f"b:{n}"}


def mixed_shape(run_id: str) -> list[tuple[int, str, str]]:
    """The checkpoints a finished mixed_agent run must have, exactly once each."""
    ops = [
        ("step", "work"),
        ("start", "tests.faults.agents.mixed_child"),
        ("set_event", "stage"),
        ("send", "ping"),
        ("send", "self"),
        ("recv", "self"),
        ("recv", "never"),
        ("sleep", "sleep"),
        ("result", f"{run_id}-1"),
        ("step", "work"),
        ("set_event", "stage"),
    ]
    return [(seq, kind, name) for seq, (kind, name) in enumerate(ops)]


CHILD_SHAPE = [(0, "recv", "ping"), (1, "step", "work")]


# --- a long-ish agent for the database restart: steps around a durable sleep ---------------


@durable.step()
def slow_work(label: str, n: int) -> str:
    side_effect(label, pause=0.3)
    return f"{label}:{n}"


@durable.workflow()
def steady_agent(n: int) -> list[str]:
    done = [slow_work(f"s{i}", n) for i in range(3)]
    durable.sleep(1.0)
    done += [slow_work(f"s{i}", n) for i in range(3, 6)]
    return done


# --- a deadline that passes while no worker runs ------------------------------------------


@durable.workflow()
def deadline_agent(timeout: float) -> str:
    answer = durable.recv("approval", timeout=timeout)
    if answer is None:
        return work("timeout-path", 0)
    return work("approved-path", 0)


# --- sends racing parks ---------------------------------------------------------------------


@durable.workflow()
def parker() -> object:
    return durable.recv("wake", timeout=None)


# --- database outages: every kind of statement the hot path prepares -------------------------


@durable.step()
def quick_work(label: str, n: int) -> str:
    side_effect(label, pause=0.1)
    return f"{label}:{n}"


@durable.workflow()
def outage_agent(n: int) -> list:
    done = [quick_work(f"s{i}", n) for i in range(3)]
    durable.sleep(0.5)
    durable.send(durable.workflow_id(), n, topic="self")
    echoed = durable.recv("self", timeout=300)
    done += [quick_work(f"s{i}", n) for i in range(3, 5)]
    return [*done, echoed]


def outage_expected(n: int) -> list:
    return [f"s{i}:{n}" for i in range(5)] + [n]


OUTAGE_SHAPE = [("step", "quick_work")] * 3 + [("sleep", "sleep"), ("send", "self"), ("recv", "self")]
OUTAGE_SHAPE += [("step", "quick_work")] * 2


# --- a step longer than the lease, and a backlog of messages -------------------------------


@durable.step()
def long_step(seconds: float) -> int:
    sid = durable.step_id()
    ledger_line(f"start {sid} long {os.getpid()}")
    time.sleep(seconds)  # the step's own work outlasting the lease: the workload, not a wait
    ledger_line(f"end {sid} long {os.getpid()}")
    return os.getpid()


@durable.workflow()
def outlives_its_lease(seconds: float) -> int:
    return long_step(seconds)


@durable.workflow()
def reads_backlog(count: int) -> list:
    return [durable.recv("backlog", timeout=None) for _ in range(count)]
