"""The model interface the demo agents call, and its offline default (scripted, no network).

A model turns a ``Prompt`` into a ``Reply``: some text and, optionally, a proposed tool call.
Set ``INBOX_MODEL`` to the import path of another class (for example
``"inbox.agents.openai_compatible.OpenAICompatibleModel"``) to use a real provider; the default
is ``OfflineModel``, which answers from scripts so the demo runs anywhere without keys.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULT_MODEL = "inbox.agents.model.OfflineModel"


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # a JSON schema


@dataclass(frozen=True)
class Prompt:
    task: str  # e.g. "refund.propose": what the agent wants; scripts are keyed by it
    system: str
    user: str
    facts: dict[str, Any] = field(default_factory=dict)  # the structured data the prompt was written from
    tools: tuple[Tool, ...] = ()


@dataclass(frozen=True)
class Reply:
    text: str
    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)


class Model(Protocol):
    name: str

    def complete(self, prompt: Prompt) -> Reply: ...


Script = Callable[[Prompt], Reply]


class OfflineModel:
    """Answers each task from a script: deterministic, instant, offline."""

    name = "offline-scripted"
    scripts: dict[str, Script] = {}

    def complete(self, prompt: Prompt) -> Reply:
        script = self.scripts.get(prompt.task)
        if script is None:
            raise LookupError(f"The offline model has no script for task {prompt.task!r}; register one with @script.")
        return script(prompt)


def script(task: str) -> Callable[[Script], Script]:
    """Register the offline model's answer for ``task``."""

    def register(fn: Script) -> Script:
        OfflineModel.scripts[task] = fn
        return fn

    return register


def get_model() -> Model:
    model: Model = import_string(getattr(settings, "INBOX_MODEL", DEFAULT_MODEL))()
    return model
