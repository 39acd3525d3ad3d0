"""The email agent: drafts a reply a reviewer may send, edit, or answer with guidance (then redrafts)."""

from datetime import timedelta
from typing import Any

import durable
from inbox import ask

from .common import progress, think
from .model import Prompt, Reply, Tool, script

SEND_EMAIL = Tool(
    name="send_email",
    description="Send an email.",
    parameters={
        "type": "object",
        "properties": {
            "to": {"type": "string", "format": "email", "minLength": 3},
            "subject": {"type": "string", "minLength": 1, "maxLength": 200},
            "body": {"type": "string", "minLength": 1},
        },
        "required": ["to", "subject", "body"],
        "additionalProperties": False,
    },
)
MAX_DRAFTS = 3


@durable.step(name="mail.send_email")
def send_email(to: str, subject: str, body: str) -> str:
    return f"sent to {to}: {subject} ({len(body)} characters), message id {durable.step_id()}"


@durable.workflow(name="email_agent")
def email_agent(sender: str, subject: str, text: str) -> dict[str, Any]:
    progress(f"Reading the email from {sender}")
    facts = {"sender": sender, "subject": subject, "guidance": ""}
    reply = think(_prompt("email.draft", text, facts))
    for attempt in range(1, MAX_DRAFTS + 1):
        progress(f"Draft {attempt} waiting for a reviewer")
        decision = ask(
            title=f"Reply to {sender}: “{subject}”" + (f" (draft {attempt})" if attempt > 1 else ""),
            body_markdown=f"{reply.text}\n\n---\n\n**Their email:**\n\n{text}",
            action="send_email",
            arguments=reply.arguments,
            schema=SEND_EMAIL.parameters,
            decisions=("approve", "edit", "respond", "reject"),
            timeout=timedelta(hours=8),
            on_expiry="reject",
        )
        if not decision.responded:
            break
        progress("Redrafting with the reviewer's guidance")
        reply = think(_prompt("email.revise", text, facts | {"guidance": decision.text, "draft": reply.arguments}))
    if decision.responded or not decision.go_ahead:
        progress("Not sent")
        return {"status": "not sent", "outcome": str(decision.outcome), "reason": decision.reason}
    progress("Sending")
    return {"status": "sent", "receipt": send_email(**decision.arguments), "outcome": str(decision.outcome)}


def _prompt(task: str, text: str, facts: dict[str, Any]) -> Prompt:
    return Prompt(
        task=task,
        system="You answer customer emails politely and briefly. Propose the reply with the send_email tool.",
        user=text,
        facts=facts,
        tools=(SEND_EMAIL,),
    )


@script("email.draft")
def _draft(prompt: Prompt) -> Reply:
    name = prompt.facts["sender"].split("@")[0].replace(".", " ").title()
    body = (
        f"Hello {name},\n\nThank you for your message. We are looking into it and will get back to you "
        "within two working days.\n\nBest regards,\nSupport"
    )
    return _email_reply("I drafted a short acknowledgement:", prompt, body)


@script("email.revise")
def _revise(prompt: Prompt) -> Reply:
    draft = prompt.facts["draft"]["body"]
    greeting, _, rest = draft.partition("\n\n")
    body = f"{greeting}\n\n{prompt.facts['guidance']}\n\n{rest}"
    return _email_reply("I revised the draft with your guidance:", prompt, body)


def _email_reply(intro: str, prompt: Prompt, body: str) -> Reply:
    arguments = {"to": prompt.facts["sender"], "subject": f"Re: {prompt.facts['subject']}", "body": body}
    return Reply(text=f"{intro}\n\n```\n{body}\n```", tool="send_email", arguments=arguments)
