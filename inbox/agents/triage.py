"""The triage agent, a LlamaIndex workflow: reads a support ticket and the customer's account at
once (two concurrent steps), proposes a credit or an escalation, and acts on the reviewer's decision.

Offline and scripted: keyword rules stand in for a model, and the back office is deterministic.
It runs on ``durable.llama_index``: each step is a durable step, and the proposal waits in the
inbox (``InboxInput``) parked, with no thread, until a reviewer decides.
"""

from datetime import timedelta
from typing import Any

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, StartEvent, StopEvent

import durable
from durable import llama_index
from inbox.llama_index import InboxInput, InboxRequest

from .common import stable_number

RUNTIME = llama_index.DurableRuntime("inbox.agents", on_input=InboxInput(timeout=timedelta(days=2)))
URGENT = ("down", "outage", "cannot log in", "data loss", "urgent")
BILLING = ("invoice", "charged", "refund", "price", "bill")


class ReadTicket(Event):
    pass


class LookUp(Event):
    pass


class Classified(Event):
    topic: str
    urgent: bool


class Account(Event):
    plan: str
    monthly: float
    open_tickets: int


class Triage(Workflow):
    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> ReadTicket | LookUp | None:
        await ctx.store.set(
            "ticket", {"id": ev.get("ticket_id"), "customer": ev.get("customer"), "text": ev.get("text")}
        )
        ctx.send_event(ReadTicket())
        ctx.send_event(LookUp())  # the two run at once
        return None

    @step
    async def classify(self, ctx: Context, ev: ReadTicket) -> Classified:
        text = (await ctx.store.get("ticket"))["text"].lower()
        topic = "billing" if any(w in text for w in BILLING) else "technical"
        return Classified(topic=topic, urgent=any(w in text for w in URGENT))

    @step
    async def account(self, ctx: Context, ev: LookUp) -> Account:
        customer = (await ctx.store.get("ticket"))["customer"]
        plan = ("starter", "team", "enterprise")[stable_number(customer, 0, 2)]
        monthly = {"starter": 19.0, "team": 99.0, "enterprise": 990.0}[plan]
        return Account(plan=plan, monthly=monthly, open_tickets=stable_number(customer, 0, 3))

    @step
    async def propose(self, ctx: Context, ev: Classified | Account) -> StopEvent | None:
        found = ctx.collect_events(ev, [Classified, Account])
        if found is None:
            return None
        classified, account = found
        assert isinstance(classified, Classified) and isinstance(account, Account)
        ticket = await ctx.store.get("ticket")
        ask = _proposal(ticket, classified, account)
        answer = await ctx.wait_for_event(HumanResponseEvent, waiter_event=ask, timeout=None)
        if not answer.get("approved"):
            return StopEvent(result={"status": "not done", "outcome": answer.get("outcome"), "reason": answer.response})
        done = {"action": ask.action, **answer.get("arguments"), "reference": f"T-{ticket['id']}"}
        return StopEvent(result={"status": "done", "outcome": answer.get("outcome"), "done": done})


def _proposal(ticket: dict[str, Any], classified: Classified, account: Account) -> InboxRequest:
    facts = (
        f"| ticket | topic | urgent | plan | monthly |\n|---|---|---|---|---|\n"
        f"| {ticket['id']} | {classified.topic} | {'yes' if classified.urgent else 'no'} | "
        f"{account.plan} | {account.monthly:.2f} EUR |\n\nThe customer wrote:\n\n> {ticket['text']}"
    )
    if classified.topic == "billing":
        amount = round(account.monthly / 2, 2)
        return InboxRequest(
            prefix=f"Credit {amount:.2f} EUR to {ticket['customer']}?",
            body=f"**Proposal:** credit half a month, as the ticket is about billing.\n\n{facts}",
            action="issue_credit",
            arguments={"customer": ticket["customer"], "amount": amount, "currency": "EUR"},
            arguments_schema={
                "type": "object",
                "properties": {
                    "customer": {"type": "string"},
                    "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": account.monthly},
                    "currency": {"enum": ["EUR"]},
                },
                "required": ["customer", "amount", "currency"],
            },
        )
    team = "on-call" if classified.urgent else "support-l2"
    return InboxRequest(
        prefix=f"Escalate ticket {ticket['id']} to {team}?",
        body=f"**Proposal:** escalate to {team}.\n\n{facts}",
        action="escalate",
        arguments={"ticket": ticket["id"], "team": team, "priority": "P1" if classified.urgent else "P3"},
        decisions=["approve", "reject", "edit"],
    )


@durable.workflow(name="triage_agent")
async def triage_agent(ticket_id: str, customer: str, text: str) -> dict[str, Any]:
    stop = await llama_index.run(
        Triage(runtime=RUNTIME, timeout=None), ticket_id=ticket_id, customer=customer, text=text
    )
    result: dict[str, Any] = stop.result
    return result
