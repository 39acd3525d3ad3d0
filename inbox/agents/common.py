"""What every demo agent shares: how its Pydantic AI agent is built, its model, and progress events.

The model is ``settings.INBOX_MODEL`` when set (a Pydantic AI model string such as
``"openai:gpt-5"`` or ``"anthropic:claude-sonnet-4-5"``, with the provider's own API key
variable and its extra installed, e.g. ``pip install "pydantic-ai-slim[openai]"``); otherwise
each agent's offline script, a ``FunctionModel`` that calls the same tools without a network.
"""

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolReturnPart, UserPromptPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel

import durable
from durable.pydantic_ai import Durability
from inbox.approvals import InboxApprovals

Script = Callable[[list[ModelMessage], AgentInfo], ModelResponse]
FACTS = "\n\nFacts (JSON): "


def demo_agent(name: str, script: Script, **options: Any) -> Agent[Any, Any]:
    """A durable agent whose approval-required tools are decided in the inbox."""
    model: Model | str = settings.INBOX_MODEL or FunctionModel(script, model_name=f"offline-{name}")
    # No step retries on model requests: provider clients retry their own HTTP calls already.
    # The run publishes its events under "agent": the request page's activity tab shows them.
    capabilities = [Durability(publish_events="agent"), InboxApprovals()]
    return Agent(model, name=name, capabilities=capabilities, **options)


def prompt(text: str, facts: dict[str, Any]) -> str:
    """The user prompt: the task in words, then the facts as JSON (a real model reads both)."""
    return f"{text}{FACTS}{json.dumps(facts)}"


def facts_of(messages: list[ModelMessage]) -> dict[str, Any]:
    """The facts of the run's prompt, for an offline script."""
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str) and FACTS in part.content:
                    facts: dict[str, Any] = json.loads(part.content.rsplit(FACTS, 1)[1])
                    return facts
    raise LookupError("The offline script found no facts in the prompt.")


def returned(messages: list[ModelMessage], tool: str) -> list[Any]:
    """What each call of ``tool`` returned so far (a denied call returns why), oldest first."""
    return [
        part.content
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart) and part.tool_name == tool
    ]


def progress(text: str) -> None:
    """Publish what the agent is doing; the inbox shows the history on the request's page."""
    durable.set_event("progress", text)


def stable_number(seed: str, low: int, high: int) -> int:
    """A number from ``seed`` (the demo's fake back-office systems are deterministic)."""
    digest = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16)
    return low + digest % (high - low + 1)
