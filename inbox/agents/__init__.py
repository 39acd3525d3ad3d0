"""The demo agents (refund, deploy and email on Pydantic AI, triage on LlamaIndex workflows), runnable
offline, and how to start them."""

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import durable


@dataclass(frozen=True)
class Kind:
    label: str
    workflow: str  # import path: workers import it by path, and so does this module, lazily
    description: str
    sample: Callable[[random.Random], dict[str, Any]]


def _refund(rng: random.Random) -> dict[str, Any]:
    complaints = [
        "My blender arrived broken, the jar is cracked. I want my money back.",
        "The shoes are fine but the colour is not what the photo showed.",
        "Half of my order never arrived and nobody answers the phone.",
    ]
    customer = rng.choice(["ana@example.com", "bo@example.com", "chen@example.com"])
    return {"order_id": f"A-{rng.randint(1000, 9999)}", "customer": customer, "complaint": rng.choice(complaints)}


def _deploy(rng: random.Random) -> dict[str, Any]:
    service = rng.choice(["billing", "search", "checkout"])
    return {"service": service, "version": f"v{rng.randint(1, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"}


def _email(rng: random.Random) -> dict[str, Any]:
    emails = [
        ("dana.lee@example.com", "Invoice 2291 is wrong", "Hi, the invoice charges us for 12 seats but we have 10."),
        ("sam@example.org", "Partnership?", "Hello! Would you be open to a call next week about a partnership?"),
    ]
    sender, subject, text = rng.choice(emails)
    return {"sender": sender, "subject": subject, "text": text}


def _triage(rng: random.Random) -> dict[str, Any]:
    tickets = [
        ("ana@example.com", "We were charged twice for March, please fix the invoice."),
        ("bo@example.com", "The dashboard is down for our whole team since this morning, urgent!"),
        ("chen@example.com", "Exports to CSV drop the last column."),
    ]
    customer, text = rng.choice(tickets)
    return {"ticket_id": str(rng.randint(1000, 9999)), "customer": customer, "text": text}


KINDS: dict[str, Kind] = {
    "refund": Kind("Refund", "inbox.agents.refund:refund_agent", "proposes a refund you may edit", _refund),
    "deploy": Kind("Deploy", "inbox.agents.deploy:deploy_agent", "needs approval within a day", _deploy),
    "email": Kind("Email", "inbox.agents.mail:email_agent", "drafts a reply you may edit or answer", _email),
    "triage": Kind(
        "Triage", "inbox.agents.triage:triage_agent", "a LlamaIndex workflow: proposes a credit or escalation", _triage
    ),
}


def workflow_of(kind: str) -> Any:
    from django.utils.module_loading import import_string

    return import_string(KINDS[kind].workflow.replace(":", "."))


def start_agents(kind: str, count: int = 1, seed: int | None = None) -> list[durable.WorkflowHandle[Any]]:
    """Start ``count`` runs of a demo agent with sample inputs."""
    if kind not in KINDS:
        raise ValueError(f"Unknown agent {kind!r}: choose one of {', '.join(KINDS)}.")
    rng = random.Random(seed)
    workflow = workflow_of(kind)
    return [durable.start(workflow, **KINDS[kind].sample(rng)) for _ in range(count)]
