"""Pydantic AI tool approvals decided in the inbox.

Add ``InboxApprovals()`` to an agent's capabilities (beside ``durable.pydantic_ai.Durability()``):
a call of a tool declared with ``requires_approval=True`` (or that raises ``ApprovalRequired``)
becomes an inbox request through ``inbox.ask``, and the reviewer's decision goes back to the
agent as Pydantic AI's approval result:

- approve -> ``ToolApproved()``: the tool runs with the model's arguments (``decided(ctx)`` in
  the tool tells how it was decided, and by whom);
- edit -> ``ToolApproved(override_args=...)``: the tool runs with the reviewer's arguments
  (Pydantic AI validates them again; invalid ones go back to the model as a retry prompt);
- reject -> ``ToolDenied(reason)``; respond -> ``ToolDenied`` carrying the reviewer's text,
  so the model reads it; expired -> as ``on_expiry`` says.

A tool that asks a person a question (raises ``CallDeferred(kind="question")``) becomes a request
a reviewer answers (respond) or rejects: the answer is the tool's result. This is how Pydantic AI's
``RequestInput`` idea reaches the inbox: the run waits parked on the inbox, where it is listed.

Per-tool options come from the tool's metadata under ``"inbox"``: ``title`` (a format string
over the arguments and ``call_number``, which call of that tool in the run this is),
``assignees``, ``timeout``, ``on_expiry`` and ``decisions``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.exceptions import ToolFailed
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.tools import (
    DeferredToolApprovalResult,
    DeferredToolRequests,
    DeferredToolResults,
    RunContext,
    ToolApproved,
    ToolDenied,
)

import durable

from .asking import ALL_CHOICES, ask
from .decision import Decision

METADATA_KEY = "inbox"
QUESTION_DECISIONS = ("respond", "reject")
# How a decision that does not run the tool reads to the model (the tool's "result").
REJECTED = "The reviewer rejected this call: "
ANSWERED = "The reviewer did not run this call and answered: "
EXPIRED = "Nobody approved this call before its deadline, so it was not run."


@dataclass
class InboxApprovals(AbstractCapability[Any]):
    """Decide the agent's approval-required tool calls in the inbox (defaults for every tool;
    a tool's ``metadata={"inbox": {...}}`` overrides them)."""

    assignees: str | None = None
    timeout: float | timedelta | None = None
    on_expiry: str = "reject"
    decisions: tuple[str, ...] = field(default=ALL_CHOICES)

    @classmethod
    def get_serialization_name(cls) -> str | None:
        return None

    async def handle_deferred_tool_calls(
        self, ctx: RunContext[Any], *, requests: DeferredToolRequests
    ) -> DeferredToolResults | None:
        try:
            durable.workflow_id()
        except durable.NotInWorkflow:
            return None  # outside a workflow the calls come back as the run's DeferredToolRequests
        approvals: dict[str, bool | DeferredToolApprovalResult] = {}
        metadata: dict[str, dict[str, Any]] = {}
        for call in requests.approvals:
            decision = await durable.call_sync(ask, **self._request(ctx, call))
            approvals[call.tool_call_id] = approval_result(decision)
            metadata[call.tool_call_id] = {METADATA_KEY: _about(decision)}
        answers: dict[str, Any] = {}
        for call in requests.calls:
            if requests.kind(call.tool_call_id) == "question":  # calls run elsewhere stay deferred
                request = self._request(ctx, call) | {"decisions": QUESTION_DECISIONS}
                answers[call.tool_call_id] = answer_result(await durable.call_sync(ask, **request))
        return requests.build_results(approvals=approvals, calls=answers, metadata=metadata)

    def _request(self, ctx: RunContext[Any], call: ToolCallPart) -> dict[str, Any]:
        tool_def = ctx.tool_manager.get_tool_def(call.tool_name) if ctx.tool_manager else None
        options: Mapping[str, Any] = ((tool_def.metadata or {}) if tool_def else {}).get(METADATA_KEY) or {}
        arguments = call.args_as_dict()
        return {
            "title": _title(options.get("title"), call.tool_name, arguments | {"call_number": _calls(ctx, call)}),
            "body_markdown": _model_text(ctx) or f"The agent wants to call `{call.tool_name}`.",
            "action": call.tool_name,
            "arguments": arguments,
            "schema": tool_def.parameters_json_schema if tool_def else None,
            "decisions": tuple(options.get("decisions", self.decisions)),
            "assignees": options.get("assignees", self.assignees),
            "timeout": options.get("timeout", self.timeout),
            "on_expiry": options.get("on_expiry", self.on_expiry),
        }


def approval_result(decision: Decision) -> DeferredToolApprovalResult:
    """What the agent is told: the tool runs (maybe with edited arguments), or the model reads why not."""
    if decision.edited:
        return ToolApproved(override_args=dict(decision.arguments))
    if decision.approved:
        return ToolApproved()
    if decision.responded:
        return ToolDenied(f"{ANSWERED}{decision.text}")
    if decision.expired:
        return ToolDenied(EXPIRED)
    return ToolDenied(f"{REJECTED}{decision.reason}")


def decided(ctx: RunContext[Any]) -> dict[str, Any]:
    """Inside an approved tool: how it was decided (``outcome``, ``reviewer``, ``request_id``)."""
    about: dict[str, Any] = (ctx.tool_call_metadata or {}).get(METADATA_KEY) or {}
    return about


def why_not(result: str) -> tuple[str, str]:
    """For a call that did not run, the (outcome, reason or answer) its result tells the model."""
    for prefix, outcome in ((REJECTED, "rejected"), (ANSWERED, "responded")):
        if result.startswith(prefix):
            return outcome, result.removeprefix(prefix)
    return ("expired", "") if result == EXPIRED else ("", result)


def _about(decision: Decision) -> dict[str, Any]:
    return {"outcome": str(decision.outcome), "reviewer": decision.reviewer, "request_id": decision.request_id}


def answer_result(decision: Decision) -> Any:
    """A question's answer is the reviewer's text; without one, the model reads why not."""
    if decision.responded:
        return decision.text
    return ToolFailed(EXPIRED if decision.expired else f"{REJECTED}{decision.reason}")


def _title(template: object, tool_name: str, arguments: dict[str, Any]) -> str:
    if isinstance(template, str):
        try:
            return template.format(**arguments)
        except (KeyError, IndexError, ValueError):
            return template
    return f"Run {tool_name}?"


def _calls(ctx: RunContext[Any], call: ToolCallPart) -> int:
    """How many times the model called this tool in the run so far, this call included."""
    parts = (p for m in ctx.messages if isinstance(m, ModelResponse) for p in m.parts)
    return sum(1 for p in parts if isinstance(p, ToolCallPart) and p.tool_name == call.tool_name) or 1


def _model_text(ctx: RunContext[Any]) -> str:
    """What the model wrote alongside the call: its reasons, shown to the reviewer."""
    for message in reversed(ctx.messages):
        if isinstance(message, ModelResponse):
            return "\n\n".join(part.content for part in message.parts if isinstance(part, TextPart))
    return ""
