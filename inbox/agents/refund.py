"""The refund agent: reads a complaint, looks up the order, proposes a refund a reviewer may edit."""

from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field
from pydantic_ai import RunContext, ToolDefinition
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo
from typing_extensions import TypedDict

import durable
from durable.pydantic_ai import run_sync
from inbox.approvals import decided, why_not

from .common import demo_agent, facts_of, progress, prompt, returned, stable_number


@dataclass(frozen=True)
class Case:
    order_id: str
    customer: str
    complaint: str


class RefundResult(TypedDict):
    status: Literal["refunded", "declined"]
    outcome: str  # the reviewer's decision: approved, edited, rejected or expired
    receipt: NotRequired[dict[str, Any]]
    reason: NotRequired[str]


def _script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """The offline model: look the order up, propose, tell the customer, report."""
    facts = facts_of(messages)
    orders, refunds, notes = (returned(messages, t) for t in ("lookup_order", "issue_refund", "notify_customer"))
    if not orders:
        return ModelResponse(parts=[ToolCallPart("lookup_order", {"order_id": facts["order_id"]})])
    if not refunds:
        return _proposal(orders[0], facts["complaint"])
    done = refunds[0]
    if isinstance(done, dict):
        result: dict[str, Any] = {"status": "refunded", "receipt": done["receipt"], "outcome": done["outcome"]}
        text = f"We refunded {done['receipt']['amount']:.2f} {done['receipt']['currency']}."
    else:
        outcome, reason = why_not(done)
        result = {"status": "declined", "outcome": outcome, "reason": reason}
        text = f"We could not refund this order: {reason or 'the request was not approved in time'}."
    if not notes:
        return ModelResponse(parts=[ToolCallPart("notify_customer", {"customer": facts["customer"], "text": text})])
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, result)])


def _proposal(order: dict[str, Any], complaint: str) -> ModelResponse:
    damaged = any(word in complaint.lower() for word in ("broken", "damaged", "never arrived", "missing"))
    amount = order["total"] if damaged else round(order["total"] / 2, 2)
    share = "the full amount" if damaged else "half of the order, as a goodwill gesture"
    text = (
        f"**Proposal:** refund {share}.\n\n"
        f"| order | items | total |\n|---|---|---|\n| {order['order_id']} | {order['items']} | "
        f"{order['total']:.2f} {order['currency']} |\n\n"
        f"The customer wrote:\n\n> {complaint}"
    )
    arguments = {
        "order_id": order["order_id"],
        "amount": amount,
        "currency": order["currency"],
        "note": "Refund for damaged goods" if damaged else "Goodwill refund",
    }
    return ModelResponse(parts=[TextPart(text), ToolCallPart("issue_refund", arguments)])


refund = demo_agent(
    "refund",
    _script,
    deps_type=Case,
    output_type=RefundResult,
    instructions=(
        "You handle refund requests. Look the order up, propose a fair refund with issue_refund "
        "(a reviewer approves, edits or rejects it), tell the customer the outcome, then report."
    ),
)


def _order(order_id: str) -> dict[str, Any]:
    cents = stable_number(order_id, 1500, 25000)
    return {"order_id": order_id, "total": cents / 100, "currency": "EUR", "items": stable_number(order_id, 1, 4)}


@refund.tool_plain
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order: its total, currency and number of items."""
    return _order(order_id)


async def _at_most_the_total(ctx: RunContext[Case], tool: ToolDefinition) -> ToolDefinition:
    """The schema the reviewer's edits are checked against caps the amount at this order's total."""
    schema = dict(tool.parameters_json_schema)
    properties = dict(schema["properties"])
    properties["amount"] = dict(properties["amount"], maximum=_order(ctx.deps.order_id)["total"])
    return replace(tool, parameters_json_schema=dict(schema, properties=properties))


@refund.tool(
    requires_approval=True,
    prepare=_at_most_the_total,
    metadata={
        "inbox": {
            "title": "Refund {amount:.2f} {currency} on order {order_id}?",
            "decisions": ["approve", "reject", "edit"],
            "timeout": 4 * 3600,
            "on_expiry": "reject",
        }
    },
)
def issue_refund(
    ctx: RunContext[Case],
    order_id: str,
    amount: Annotated[float, Field(gt=0)],
    currency: Literal["EUR", "USD", "GBP"],
    note: Annotated[str, Field(max_length=500)],
) -> dict[str, Any]:
    """Refund part or all of an order to the customer's original payment method."""
    # The step id is stable across retries: a payment API would take it as its idempotency key.
    receipt = {"refund_id": f"rf_{durable.step_id()}", "order_id": order_id, "amount": amount, "currency": currency}
    return {"receipt": receipt, "outcome": decided(ctx).get("outcome", "approved")}


@refund.tool_plain
def notify_customer(customer: str, text: str) -> str:
    """Email the customer."""
    return f"to {customer}: {text}"


@durable.workflow(name="refund_agent")
def refund_agent(order_id: str, customer: str, complaint: str) -> RefundResult:
    progress(f"Handling the complaint about order {order_id}")
    case = Case(order_id, customer, complaint)
    result = run_sync(
        refund, prompt(complaint, {"order_id": order_id, "customer": customer, "complaint": complaint}), deps=case
    )
    progress("Refunded" if result.output["status"] == "refunded" else "Declined")
    output: RefundResult = result.output
    return output
