"""Importable workflows for the team features: quorum, escalation, notifications."""

from datetime import timedelta

import durable
from inbox import ask


@durable.workflow()
def team_asker(
    approvals=2,
    requester=None,
    assignees=None,
    escalate_after=None,
    escalate_to=None,
    timeout=None,
    remind_before=None,
):
    decision = ask(
        title="Pay invoice 4711?",
        body_markdown="Supplier <b>ACME</b>",
        action="pay",
        arguments={"amount": 1200, "currency": "EUR"},
        approvals=approvals,
        requester=requester,
        assignees=assignees,
        escalate_after=None if escalate_after is None else timedelta(seconds=escalate_after),
        escalate_to=escalate_to,
        timeout=timeout,
        remind_before=remind_before,
    )
    return {
        "outcome": str(decision.outcome),
        "approvers": list(decision.approvers),
        "reviewer": decision.reviewer,
        "reason": decision.reason,
        "arguments": decision.arguments,
    }
