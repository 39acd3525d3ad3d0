"""The agent inbox: a human reviews what an agent proposes, and the agent waits durably.

Agents import the one call from here: ``from inbox import ask``. This package is also the
Django project (settings, urls), so the names load lazily: importing it needs no app registry.
"""

from typing import TYPE_CHECKING, Any

__all__ = ["Decision", "Outcome", "RequestExpired", "ask"]

_LAZY = {"ask": "asking", "Decision": "decision", "Outcome": "decision", "RequestExpired": "decision"}

if TYPE_CHECKING:
    from .asking import ask
    from .decision import Decision, Outcome, RequestExpired


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'inbox' has no attribute {name!r}")
