"""The refund agent: reads a complaint, looks up the order, proposes a refund a reviewer may edit."""

from datetime import timedelta
from typing import Any

import durable
from inbox import ask

from .common import progress, stable_number, think
from .model import Prompt, Reply, Tool, script

ISSUE_REFUND = Tool(
    name="issue_refund",
    description="Refund part or all of an order to the customer's original payment method.",
    parameters={
        "type": "object",
        "properties": {
            "order_id": {"type": "string"},
            "amount": {"type": "number", "exclusiveMinimum": 0},
            "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
            "note": {"type": "string", "maxLength": 500},
        },
        "required": ["order_id", "amount", "currency", "note"],
        "additionalProperties": False,
    },
)


@durable.step(name="refund.lookup_order")
def lookup_order(order_id: str) -> dict[str, Any]:
    cents = stable_number(order_id, 1500, 25000)
    return {"order_id": order_id, "total": cents / 100, "currency": "EUR", "items": stable_number(order_id, 1, 4)}


@durable.step(name="refund.issue_refund")
def issue_refund(order_id: str, amount: float, currency: str, note: str) -> dict[str, Any]:
    # The step id is stable across retries: a payment API would take it as its idempotency key.
    return {"refund_id": f"rf_{durable.step_id()}", "order_id": order_id, "amount": amount, "currency": currency}


@durable.step(name="refund.notify_customer")
def notify_customer(customer: str, text: str) -> str:
    return f"to {customer}: {text}"


@durable.workflow(name="refund_agent")
def refund_agent(order_id: str, customer: str, complaint: str) -> dict[str, Any]:
    progress(f"Looking up order {order_id}")
    order = lookup_order(order_id)
    progress("Asking the model for a proposal")
    reply = think(
        Prompt(
            task="refund.propose",
            system="You handle refund requests. Propose a fair refund with the issue_refund tool.",
            user=complaint,
            facts={"order": order, "customer": customer},
            tools=(ISSUE_REFUND,),
        )
    )
    schema = dict(ISSUE_REFUND.parameters)
    schema["properties"] = dict(schema["properties"]) | {
        "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": order["total"]}
    }
    progress("Waiting for a reviewer")
    decision = ask(
        title=f"Refund {reply.arguments['amount']:.2f} {order['currency']} on order {order_id}?",
        body_markdown=f"{reply.text}\n\n> {complaint}\n\n— *{customer}*",
        action="issue_refund",
        arguments=reply.arguments,
        schema=schema,
        decisions=("approve", "reject", "edit"),
        timeout=timedelta(hours=4),
        on_expiry="reject",
    )
    if decision.go_ahead:
        progress("Issuing the refund")
        receipt = issue_refund(**decision.arguments)
        notify_customer(customer, f"We refunded {receipt['amount']:.2f} {receipt['currency']}.")
        progress("Refunded")
        return {"status": "refunded", "receipt": receipt, "outcome": str(decision.outcome)}
    why = decision.reason or "the request was not approved in time"
    notify_customer(customer, f"We could not refund this order: {why}.")
    progress("Declined")
    return {"status": "declined", "outcome": str(decision.outcome), "reason": decision.reason}


@script("refund.propose")
def _propose(prompt: Prompt) -> Reply:
    order = prompt.facts["order"]
    damaged = any(word in prompt.user.lower() for word in ("broken", "damaged", "never arrived", "missing"))
    amount = order["total"] if damaged else round(order["total"] / 2, 2)
    share = "the full amount" if damaged else "half of the order, as a goodwill gesture"
    text = (
        f"**Proposal:** refund {share}.\n\n"
        f"| order | items | total |\n|---|---|---|\n| {order['order_id']} | {order['items']} | "
        f"{order['total']:.2f} {order['currency']} |\n\n"
        "The customer wrote:"
    )
    arguments = {
        "order_id": order["order_id"],
        "amount": amount,
        "currency": order["currency"],
        "note": "Refund for damaged goods" if damaged else "Goodwill refund",
    }
    return Reply(text=text, tool="issue_refund", arguments=arguments)
