"""Sample workflows for streams, list_steps and tracing (workers import them by path)."""

import durable
from tests import workflows as w


@durable.step()
def stream_tokens(key: str, count: int, pause_at: int | None, gate: str) -> int:
    """Write ``count`` tokens to ``key``; before token ``pause_at`` wait until the test opens ``gate``."""
    w.ledger(f"tokens:{durable.step_id()}")
    for i in range(count):
        if i == pause_at:
            w.wait_for_gate(gate)
        durable.write_stream(key, f"token-{i}")
    return count


@durable.workflow()
def token_stream(key: str, count: int, pause_at: int | None = None, gate: str = "") -> str:
    durable.write_stream(key, "begin")  # in the body: a durable operation
    stream_tokens(key, count, pause_at, gate)
    durable.write_stream(key, "end")
    durable.close_stream(key)
    return "streamed"


@durable.step()
def acked_tokens(key: str, count: int) -> None:
    """Write one token at a time, each after the test acknowledged reading the one before."""
    for i in range(count):
        if i:
            w.wait_for_gate(f"ack-{i - 1}")
        durable.write_stream(key, {"token": i})


@durable.workflow()
def chatty(key: str, count: int) -> None:
    acked_tokens(key, count)
    durable.close_stream(key)


@durable.step(retries=2, interval=0)
def flaky_writer(key: str) -> str:
    """Writes a, b, c; the first attempt fails after b, the second after c: the stream keeps one of each."""
    durable.write_stream(key, "a")
    durable.write_stream(key, "b")
    if not w.flag("flaky-1"):
        w.set_flag("flaky-1")
        raise ConnectionError("dropped after b")
    durable.write_stream(key, "c")
    if not w.flag("flaky-2"):
        w.set_flag("flaky-2")
        raise ConnectionError("dropped after c")
    durable.write_stream(key, "d")
    return "ok"


@durable.workflow()
def retried_stream(key: str) -> str:
    return flaky_writer(key)


@durable.workflow()
def writes_after_close(key: str) -> str:
    durable.write_stream(key, 1)
    durable.close_stream(key)
    try:
        durable.write_stream(key, 2)
    except ValueError as exc:
        return str(exc)
    return "written"


@durable.workflow()
def streams_then_fails(key: str) -> None:
    durable.write_stream(key, "partial")
    raise RuntimeError("gave up")


@durable.workflow()
def reads_a_stream_in_the_body(run_id: str) -> object:
    return list(durable.read_stream(run_id, "k"))


@durable.step(retries=1, interval=0)
def fails_once(label: str) -> str:
    if not w.flag(label):
        w.set_flag(label)
        raise ValueError(f"first attempt of {label}")
    return f"{label} done"


@durable.step()
def always_fails() -> None:
    raise KeyError("missing")


@durable.workflow()
def many_kinds(label: str) -> object:
    first = fails_once(label)
    durable.set_event("progress", 1)
    message = durable.recv("go", timeout=60)
    try:
        always_fails()
    except KeyError:
        pass
    return [first, message]


@durable.workflow()
def lists_own_steps() -> object:
    w.add(1, 2)
    steps = durable.list_steps(durable.workflow_id())
    durable.recv("go", timeout=60)  # parks: the run replays its list_steps after this
    return [(s.seq, s.kind, s.name, s.status, s.output) for s in steps]


@durable.workflow()
def fails_at_once() -> None:
    raise RuntimeError("no luck")


@durable.workflow()
def streams_around_a_wait(key: str) -> None:
    durable.write_stream(key, "before")
    message = durable.recv("go", timeout=60)  # parks: the run replays its first write after this
    durable.write_stream(key, message)
    durable.close_stream(key)


@durable.step(retries=1, interval=0)
async def async_tokens(key: str) -> int:
    """Writes 0, 1, 2, fails once, then writes 0, 1, 2 (already there) and 3."""
    for i in range(3):
        await durable.call_sync(durable.write_stream, key, i)
    if not w.flag("async-retry"):
        w.set_flag("async-retry")
        raise ConnectionError("dropped after 2")
    await durable.call_sync(durable.write_stream, key, 3)
    return 4


@durable.workflow()
async def async_stream(key: str) -> int:
    count = await async_tokens(key)
    await durable.call_sync(durable.close_stream, key)
    return count
