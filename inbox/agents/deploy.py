"""The deploy agent: checks CI, plans a production deploy, needs approval within a day (else no deploy)."""

from datetime import timedelta
from typing import Any

import durable
from inbox import ask

from .common import progress, stable_number, think
from .model import Prompt, Reply, Tool, script

DEPLOY = Tool(
    name="deploy",
    description="Deploy a version of a service to an environment.",
    parameters={
        "type": "object",
        "properties": {
            "service": {"type": "string"},
            "version": {"type": "string"},
            "environment": {"type": "string", "enum": ["staging", "production"]},
            "strategy": {"type": "string", "enum": ["canary", "rolling", "all-at-once"]},
        },
        "required": ["service", "version", "environment", "strategy"],
    },
)


@durable.step(name="deploy.check_ci")
def check_ci(service: str, version: str) -> dict[str, Any]:
    seed = f"{service}@{version}"
    return {"tests": stable_number(seed, 300, 900), "failed": 0, "coverage": stable_number(seed, 78, 94)}


@durable.step(name="deploy.deploy")
def deploy(service: str, version: str, environment: str, strategy: str) -> str:
    return f"{service} {version} is live on {environment} ({strategy}), deployment {durable.step_id()}"


@durable.workflow(name="deploy_agent")
def deploy_agent(service: str, version: str) -> dict[str, Any]:
    progress(f"Checking CI for {service} {version}")
    ci = check_ci(service, version)
    reply = think(
        Prompt(
            task="deploy.plan",
            system="You are a release engineer. Plan a safe production deploy with the deploy tool.",
            user=f"Ship {service} {version} to production.",
            facts={"service": service, "version": version, "ci": ci},
            tools=(DEPLOY,),
        )
    )
    progress("Waiting for approval (within a day, or no deploy)")
    decision = ask(
        title=f"Deploy {service} {version} to production?",
        body_markdown=reply.text,
        action="deploy",
        arguments=reply.arguments,
        schema=DEPLOY.parameters,
        decisions=("approve", "reject"),
        timeout=timedelta(days=1),
        on_expiry="reject",
    )
    if decision.go_ahead:
        progress("Deploying")
        return {"status": "deployed", "log": deploy(**decision.arguments)}
    progress("Not deployed")
    return {"status": "not deployed", "outcome": str(decision.outcome), "reason": decision.reason}


@script("deploy.plan")
def _plan(prompt: Prompt) -> Reply:
    ci = prompt.facts["ci"]
    text = (
        f"CI is green: **{ci['tests']} tests**, {ci['failed']} failed, {ci['coverage']}% coverage.\n\n"
        "Plan:\n\n1. canary to 5% of traffic for 15 minutes\n2. watch error rate and latency\n"
        "3. roll out to 100% if both stay flat\n\nRollback: redeploy the previous version."
    )
    arguments = {
        "service": prompt.facts["service"],
        "version": prompt.facts["version"],
        "environment": "production",
        "strategy": "canary",
    }
    return Reply(text=text, tool="deploy", arguments=arguments)
