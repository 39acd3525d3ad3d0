"""A real provider for the model interface: any OpenAI-compatible chat-completions endpoint.

Off by default. To use it: ``INBOX_MODEL = "inbox.agents.openai_compatible.OpenAICompatibleModel"``
and the environment variables ``INBOX_MODEL_API_KEY``, optionally ``INBOX_MODEL_URL`` and
``INBOX_MODEL_NAME``. Calls happen inside ``@durable.step``s, so each answer is recorded once.
"""

import json
import os
import urllib.request
from typing import Any

from .model import Prompt, Reply

DEFAULT_URL = "https://api.openai.com/v1/chat/completions"


class OpenAICompatibleModel:
    def __init__(self) -> None:
        self.url = os.environ.get("INBOX_MODEL_URL", DEFAULT_URL)
        self.name = os.environ.get("INBOX_MODEL_NAME", "gpt-4o-mini")
        self.key = os.environ.get("INBOX_MODEL_API_KEY", "")
        if not self.key:
            raise RuntimeError("INBOX_MODEL_API_KEY is not set: export it, or unset INBOX_MODEL for the offline model.")

    def complete(self, prompt: Prompt) -> Reply:
        body = {
            "model": self.name,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": f"{prompt.user}\n\nFacts (JSON): {json.dumps(prompt.facts)}"},
            ],
        }
        if prompt.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in prompt.tools
            ]
        return _reply(self._post(body))

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer


def _reply(answer: dict[str, Any]) -> Reply:
    message = answer["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    if not calls:
        return Reply(text=message.get("content") or "")
    call = calls[0]["function"]
    return Reply(text=message.get("content") or "", tool=call["name"], arguments=json.loads(call["arguments"] or "{}"))
