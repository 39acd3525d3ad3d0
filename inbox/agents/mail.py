"""The email agent: drafts a reply a reviewer may send, edit, or answer with guidance (then redrafts)."""

from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field
from pydantic_ai import RunContext
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo
from typing_extensions import TypedDict

import durable
from durable.pydantic_ai import run_sync
from inbox.approvals import decided, why_not

from .common import demo_agent, facts_of, progress, prompt, returned

MAX_DRAFTS = 3


class EmailResult(TypedDict):
    status: Literal["sent", "not sent"]
    outcome: str  # the last decision: approved, edited, responded, rejected or expired
    receipt: NotRequired[str]
    reason: NotRequired[str]


def _script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """The offline model: draft; redraft with the reviewer's answer; report."""
    facts = facts_of(messages)
    sends = returned(messages, "send_email")
    if not sends:
        name = facts["sender"].split("@")[0].replace(".", " ").title()
        body = (
            f"Hello {name},\n\nThank you for your message. We are looking into it and will get back to you "
            "within two working days.\n\nBest regards,\nSupport"
        )
        return _draft("I drafted a short acknowledgement:", facts, body)
    last = sends[-1]
    if isinstance(last, dict):
        return _report({"status": "sent", "receipt": last["receipt"], "outcome": last["outcome"]}, info)
    outcome, said = why_not(last)
    if outcome == "responded" and len(sends) < MAX_DRAFTS:
        greeting, _, rest = _last_draft(messages).partition("\n\n")
        body = f"{greeting}\n\n{said}\n\n{rest}"
        return _draft("I revised the draft with your guidance:", facts, body)
    reason = said if outcome == "rejected" else ""
    return _report({"status": "not sent", "outcome": outcome, "reason": reason}, info)


def _draft(intro: str, facts: dict[str, Any], body: str) -> ModelResponse:
    text = f"{intro}\n\n```\n{body}\n```\n\n---\n\n**Their email:**\n\n{facts['text']}"
    arguments = {"to": facts["sender"], "subject": f"Re: {facts['subject']}", "body": body}
    return ModelResponse(parts=[TextPart(text), ToolCallPart("send_email", arguments)])


def _last_draft(messages: list[ModelMessage]) -> str:
    calls = [p for m in messages if isinstance(m, ModelResponse) for p in m.parts if isinstance(p, ToolCallPart)]
    body: str = [c for c in calls if c.tool_name == "send_email"][-1].args_as_dict()["body"]
    return body


def _report(result: dict[str, Any], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, result)])


email = demo_agent(
    "email",
    _script,
    output_type=EmailResult,
    instructions="You answer customer emails politely and briefly. Propose the reply with the send_email tool.",
)


@email.tool(
    requires_approval=True,
    metadata={
        "inbox": {
            "title": "Reply to {to}: “{subject}” (draft {call_number})",
            "decisions": ["approve", "edit", "respond", "reject"],
            "timeout": 8 * 3600,
            "on_expiry": "reject",
        }
    },
)
def send_email(
    ctx: RunContext[None],
    to: Annotated[str, Field(min_length=3)],
    subject: Annotated[str, Field(min_length=1, max_length=200)],
    body: Annotated[str, Field(min_length=1)],
) -> dict[str, str]:
    """Send an email."""
    receipt = f"sent to {to}: {subject} ({len(body)} characters), message id {durable.step_id()}"
    return {"receipt": receipt, "outcome": decided(ctx).get("outcome", "approved")}


@durable.workflow(name="email_agent")
def email_agent(sender: str, subject: str, text: str) -> EmailResult:
    progress(f"Reading the email from {sender}")
    facts = {"sender": sender, "subject": subject, "text": text}
    result = run_sync(email, prompt(f"Answer this email from {sender}:\n\n{text}", facts))
    output: EmailResult = result.output
    progress("Sent" if output["status"] == "sent" else "Not sent")
    return output
