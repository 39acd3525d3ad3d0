"""Importable LlamaIndex workflows on the durable runtime, with ledger side effects to count."""

import asyncio
from typing import Any

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from workflows.retry_policy import retry_policy, stop_after_attempt, wait_fixed

from durable.llama_index import DurableRuntime
from inbox.llama_index import InboxInput
from tests.workflows import flag, ledger, ledger_lines, set_flag, wait_for_gate

RUNTIME = DurableRuntime("tests", on_input=InboxInput())
PLAIN = DurableRuntime("tests-plain")  # no inbox: answers come with send_event


class Fast(Event):
    pass


class Slow(Event):
    pass


class Done(Event):
    part: str


def arrived(ctx: Context, ev: Done) -> list[str] | None:
    """Once both Done events are in, their parts in the order they arrived."""
    parts = ctx.collect_events(ev, [Done, Done])
    return None if parts is None else [p.part for p in parts if isinstance(p, Done)]


class FanOut(Workflow):
    """Two concurrent steps; the slow one blocks on a gate when the test holds it."""

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Fast | Slow | None:
        ledger("begin")
        await ctx.store.set("order", ev.get("order"))
        ctx.send_event(Fast())
        ctx.send_event(Slow())
        return None

    @step
    async def fast(self, ctx: Context, ev: Fast) -> Done:
        ledger("fast")
        ctx.write_event_to_stream(Event(progress="fast done"))
        await ctx.store.set("fast_at", await ctx.store.get("order"))
        return Done(part="fast")

    @step
    async def slow(self, ev: Slow) -> Done:
        ledger("slow:start")
        if flag("hold-slow"):
            await asyncio.to_thread(wait_for_gate, "open-slow")
        ledger("slow")
        return Done(part="slow")

    @step
    async def join(self, ctx: Context, ev: Done) -> StopEvent | None:
        parts = arrived(ctx, ev)
        if parts is None:
            return None
        ledger("join")
        result: dict[str, Any] = {"parts": sorted(parts), "fast_at": await ctx.store.get("fast_at")}
        return StopEvent(result=result)


class First(Event):
    pass


class Second(Event):
    pass


class Race(Workflow):
    """The step started first finishes last; then the run parks for a person and replays on the answer."""

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> First | Second | None:
        ctx.send_event(First())
        ctx.send_event(Second())
        return None

    @step
    async def first(self, ev: First) -> Done:
        await asyncio.to_thread(wait_for_gate, "second-done")
        return Done(part="first")

    @step
    async def second(self, ev: Second) -> Done:
        set_flag("second-done")
        return Done(part="second")

    @step
    async def join(self, ctx: Context, ev: Done) -> InputRequiredEvent | None:
        parts = arrived(ctx, ev)
        if parts is not None:
            await ctx.store.set("arrived", parts)
            return InputRequiredEvent(prefix="Go on?")
        return None

    @step
    async def finish(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result={"arrived": await ctx.store.get("arrived"), "answer": ev.response})


class Refund(Workflow):
    """Asks a person (the inbox, through RUNTIME's on_input) before it refunds."""

    @step
    async def propose(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ask = InputRequiredEvent(
            prefix=f"Refund {ev.get('amount')} EUR on {ev.get('order')}?",
            body="The customer's blender arrived broken.",
            action="refund",
            arguments={"order": ev.get("order"), "amount": ev.get("amount")},
        )
        answer = await ctx.wait_for_event(HumanResponseEvent, waiter_event=ask, timeout=None)
        if not answer.get("approved"):
            return StopEvent(result={"refunded": None, "outcome": answer.get("outcome")})
        ledger(f"refund:{answer.get('arguments')['amount']}")
        return StopEvent(result={"refunded": answer.get("arguments")["amount"], "by": answer.get("reviewer")})


class Greeter(Workflow):
    """The classic pattern: a step returns InputRequiredEvent; another takes the HumanResponseEvent."""

    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="What's your name?")

    @step
    async def greet(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=f"Hello, {ev.response}!")


class Flaky(Workflow):
    """Fails once, then succeeds after LlamaIndex's retry delay: a timer the run waits out."""

    @step(retry_policy=retry_policy(wait=wait_fixed(0.3), stop=stop_after_attempt(3)))
    async def call(self, ev: StartEvent) -> StopEvent:
        ledger("call")
        if len(ledger_lines("call")) == 1:
            raise ConnectionError("the service hiccuped")
        return StopEvent(result="ok")


class Broken(Workflow):
    @step
    async def call(self, ev: StartEvent) -> StopEvent:
        raise ValueError("no such order")
