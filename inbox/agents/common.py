"""What every demo agent shares: the model call as a durable step, and progress events."""

import hashlib

import durable

from .model import Prompt, Reply, get_model


@durable.step(name="model.complete", retries=2, interval=0.5)
def think(prompt: Prompt) -> Reply:
    """One model call, recorded once: a replay or a crash after it never asks the model again."""
    return get_model().complete(prompt)


def progress(text: str) -> None:
    """Publish what the agent is doing; the inbox shows the history on the request's page."""
    durable.set_event("progress", text)


def stable_number(seed: str, low: int, high: int) -> int:
    """A number from ``seed`` (the demo's fake back-office systems are deterministic)."""
    digest = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16)
    return low + digest % (high - low + 1)
