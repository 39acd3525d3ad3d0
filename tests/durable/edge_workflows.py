"""Sample workflows for the engine's edge cases (issue #10), importable by worker processes."""

import durable
from tests.workflows import ledger, wait_for_gate


@durable.step()
def effect(label: str) -> str:
    ledger(f"effect {durable.workflow_id()} {label}")
    return label


@durable.workflow()
def event_then_step(gate: str) -> str:
    """Publishes an event, blocks in plain code until the test opens the gate, then steps."""
    durable.set_event("ready", True)
    wait_for_gate(gate)
    return effect("after the event")


@durable.workflow()
def send_then_step(target: str, gate: str) -> str:
    durable.send(target, "hello", topic="t")
    durable.set_event("ready", True)
    wait_for_gate(gate)
    return effect("after the send")


@durable.workflow()
def waits_for_other(other: str) -> object:
    """Waits for a run that is not its child."""
    return durable.retrieve(other).result()


@durable.workflow()
def forks_and_waits(original: str) -> object:
    handle = durable.fork(original, from_step=0)
    durable.recv("go", timeout=None)  # parks, so the fork is replayed before the wait
    return [handle.id, handle.result()]


@durable.workflow()
def default_topic() -> object:
    return durable.recv(None, timeout=30)


@durable.workflow()
def sends_default_topic(target: str) -> bool:
    return durable.send(target, "via None", topic=None)


@durable.workflow()
def reads_own_event() -> object:
    durable.set_event("k", 41)
    value = durable.get_event(durable.workflow_id(), "k")
    return effect(f"read {value}")


@durable.workflow()
def status_then_wait(other: str) -> list[object]:
    status = durable.retrieve(other).status()
    others = [r.id for r in durable.list_workflows(name="tests.workflows.waiter")]
    durable.recv("go", timeout=None)
    return [status, sorted(others)]


@durable.workflow()
def waits_for_event(other: str, key: str, timeout: float) -> object:
    return durable.get_event(other, key, timeout=timeout)


@durable.workflow()
def sets_event_on_signal(key: str) -> None:
    durable.recv("go", timeout=None)
    durable.set_event(key, "published")


lock_queue = durable.Queue("tests-edge-lock", concurrency=1)


@durable.workflow()
def holds_the_lock(label: str) -> str:
    effect(f"{label} in")
    durable.recv("release", timeout=None)
    effect(f"{label} out")
    return label


@durable.workflow()
def pair_sender(partner: str) -> object:
    durable.send(partner, durable.workflow_id(), topic="pair")
    return durable.recv("pair", timeout=60)


@durable.workflow()
def parent_of_two_waiters() -> object:
    first = durable.start("tests.workflows.waiter", "never", None)
    second = durable.start("tests.workflows.waiter", "never", None)
    return [first.result(), second.result()]


@durable.workflow()
def publishes_event(key: str) -> str:
    durable.set_event(key, "value")
    return "published"
