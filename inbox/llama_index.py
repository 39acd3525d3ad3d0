"""LlamaIndex's human in the loop decided in the inbox.

Give the workflow's runtime ``on_input=InboxInput()``:
``DurableRuntime(on_input=InboxInput(timeout=timedelta(days=1)))``. Each ``InputRequiredEvent``
the workflow publishes (returned by a step, or ``ctx.wait_for_event(HumanResponseEvent,
waiter_event=InputRequiredEvent(...))``) becomes an inbox request once the run is idle, and the
reviewer's decision comes back as a ``HumanResponseEvent``. Meanwhile the run is parked on the
inbox: no thread, no memory, listed with every other waiting agent.

What the request shows comes from the event's fields (declared on ``InboxRequest``, or given to a
plain ``InputRequiredEvent``): ``prefix`` (the title), ``body`` (markdown), ``action``,
``arguments`` (a JSON object the reviewer may edit), ``arguments_schema`` (a JSON schema for
them), ``decisions``, ``assignees``. The answer carries ``response`` (the reviewer's text, or the
reason of a rejection), ``outcome`` (approved, rejected, edited, responded, expired),
``approved`` (whether the action may run), ``arguments`` (as decided: the reviewer's edit, or as
proposed), ``reviewer`` and ``request_id``.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import Field
from workflows.events import HumanResponseEvent, InputRequiredEvent

from .asking import ALL_CHOICES, ask
from .decision import Decision

DEFAULT_TITLE = "The agent needs your input"


class InboxRequest(InputRequiredEvent):
    """An ``InputRequiredEvent`` with the inbox's fields declared (and so type-checked)."""

    prefix: str
    body: str = ""
    action: str = ""
    arguments: dict[str, Any] = Field(default_factory=dict)
    arguments_schema: dict[str, Any] | None = None
    decisions: list[str] | None = None
    assignees: str | None = None


@dataclass
class InboxInput:
    """Answer ``InputRequiredEvent`` in the inbox (defaults for every request; an event's own
    ``decisions`` and ``assignees`` fields override them)."""

    assignees: str | None = None
    timeout: float | timedelta | None = None
    on_expiry: str = "reject"
    decisions: tuple[str, ...] = field(default=ALL_CHOICES)

    def __call__(self, event: InputRequiredEvent) -> HumanResponseEvent:
        decision = ask(**self.request(event))
        return response_event(decision)

    def request(self, event: InputRequiredEvent) -> dict[str, Any]:
        # Declared fields (a subclass's) and free ones (``InputRequiredEvent(prefix=...)``) alike.
        fields: dict[str, Any] = {k: v for k, v in event.model_dump().items() if k != "_data"} | event.to_dict()
        title = str(fields.get("prefix") or "").strip() or DEFAULT_TITLE
        return {
            "title": title,
            "body_markdown": str(fields.get("body") or ""),
            "action": str(fields.get("action") or ""),
            "arguments": fields.get("arguments") or {},
            "schema": fields.get("arguments_schema"),
            "decisions": tuple(fields.get("decisions") or self.decisions),
            "assignees": fields.get("assignees") or self.assignees,
            "timeout": self.timeout,
            "on_expiry": self.on_expiry,
        }


def response_event(decision: Decision) -> HumanResponseEvent:
    """The decision as the workflow reads it."""
    fields: dict[str, Any] = {
        "response": decision.text or decision.reason,
        "outcome": str(decision.outcome),
        "approved": decision.go_ahead,
        "arguments": dict(decision.arguments),
        "reviewer": decision.reviewer,
        "request_id": decision.request_id,
    }
    return HumanResponseEvent(**fields)
