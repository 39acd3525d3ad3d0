"""Importable workflows that ask the inbox (workers import them by path)."""

import json

import durable
from inbox import ask
from tests.workflows import ledger


def _summary(decision):
    return {
        "outcome": str(decision.outcome),
        "arguments_json": json.dumps(decision.arguments, sort_keys=True),
        "reason": decision.reason,
        "text": decision.text,
        "reviewer": decision.reviewer,
        "approved": decision.approved,
        "go_ahead": decision.go_ahead,
    }


@durable.workflow()
def asker(
    title="Refund 10 EUR?",
    body="The customer is **unhappy**.",
    arguments=None,
    decisions=("approve", "reject", "edit", "respond"),
    schema=None,
    assignees=None,
    timeout=None,
    on_expiry="reject",
):
    decision = ask(
        title=title,
        body_markdown=body,
        action="issue_refund",
        arguments={"amount": 10, "currency": "EUR", "express": False} if arguments is None else arguments,
        decisions=decisions,
        schema=schema,
        assignees=assignees,
        timeout=timeout,
        on_expiry=on_expiry,
    )
    return _summary(decision)


@durable.step()
def perform(arguments_json: str) -> str:
    ledger(f"perform:{arguments_json}")
    return arguments_json


@durable.workflow()
def acting_asker(arguments=None, schema=None):
    decision = ask(title="Do it?", action="perform", arguments=arguments or {"amount": 10}, schema=schema)
    if decision.go_ahead:
        # Later steps use what the reviewer decided (the edit, if any).
        return perform(json.dumps(decision.arguments, sort_keys=True))
    return f"not done: {decision.outcome}"


@durable.workflow()
def twice_asker(first_timeout=0.3, second_timeout=None):
    first = ask(title="First question", arguments={"n": 1}, timeout=first_timeout)
    second = ask(title="Second question", arguments={"n": 2}, timeout=second_timeout)
    return [_summary(first), _summary(second)]
