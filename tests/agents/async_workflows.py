"""Importable ``async def`` workflows and steps for the async tests (workers import them by path)."""

import asyncio

import durable
from tests.workflows import ledger


@durable.step()
async def slow_double(x: int) -> int:
    await asyncio.sleep(0)
    ledger(f"slow_double:{x}")
    return 2 * x


@durable.step(retries=2, interval=0.01)
async def flaky_async(key: str) -> str:
    ledger(f"flaky_async:{key}")
    from tests.workflows import ledger_lines

    if len(ledger_lines(f"flaky_async:{key}")) < 3:
        raise ConnectionError("not yet")
    return "ok"


@durable.workflow()
async def async_doubles(x: int) -> int:
    first = await slow_double(x)
    return await slow_double(first)


@durable.workflow()
async def async_waits(topic: str) -> object:
    """Mixes an async step with plain durable calls made through durable.call_sync."""
    before = await slow_double(1)
    message = await durable.call_sync(durable.recv, topic, timeout=60)
    return {"before": before, "message": message}


@durable.workflow()
async def async_retries(key: str) -> str:
    return await flaky_async(key)


@durable.workflow()
async def async_gathers(x: int) -> list[int]:
    """Two plain-awaited steps after a task group that parks: the park comes out unwrapped."""
    first = await slow_double(x)
    async with asyncio.TaskGroup() as group:
        task = group.create_task(durable.call_sync(durable.recv, "go", timeout=60))
    return [first, task.result()]


@durable.workflow()
async def calls_recv_directly() -> object:
    """A mistake: a plain durable call made on the event loop instead of through durable.call_sync."""
    await slow_double(1)
    return durable.recv("t", timeout=1)
