"""The deploy agent: checks CI, plans a production deploy, needs approval within a day (else no deploy)."""

from typing import Any, Literal, NotRequired

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo
from typing_extensions import TypedDict

import durable
from durable.pydantic_ai import run_sync
from inbox.approvals import why_not

from .common import demo_agent, facts_of, progress, prompt, returned, stable_number


class DeployResult(TypedDict):
    status: Literal["deployed", "not deployed"]
    outcome: NotRequired[str]  # why not: rejected or expired
    log: NotRequired[str]
    reason: NotRequired[str]


def _script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """The offline model: check CI, propose a canary deploy, report."""
    facts = facts_of(messages)
    checks, deploys = returned(messages, "check_ci"), returned(messages, "deploy")
    release = {"service": facts["service"], "version": facts["version"]}
    if not checks:
        return ModelResponse(parts=[ToolCallPart("check_ci", release)])
    if not deploys:
        return _plan(checks[0], release)
    done = deploys[0]
    if isinstance(done, dict):
        result: dict[str, Any] = {"status": "deployed", "log": done["log"]}
    else:
        outcome, reason = why_not(done)
        result = {"status": "not deployed", "outcome": outcome, "reason": reason}
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, result)])


def _plan(ci: dict[str, Any], release: dict[str, str]) -> ModelResponse:
    text = (
        f"CI is green: **{ci['tests']} tests**, {ci['failed']} failed, {ci['coverage']}% coverage.\n\n"
        "Plan:\n\n1. canary to 5% of traffic for 15 minutes\n2. watch error rate and latency\n"
        "3. roll out to 100% if both stay flat\n\nRollback: redeploy the previous version."
    )
    arguments = release | {"environment": "production", "strategy": "canary"}
    return ModelResponse(parts=[TextPart(text), ToolCallPart("deploy", arguments)])


deploy = demo_agent(
    "deploy",
    _script,
    output_type=DeployResult,
    instructions="You are a release engineer. Check CI, then plan a safe production deploy with the deploy tool.",
)


@deploy.tool_plain
def check_ci(service: str, version: str) -> dict[str, Any]:
    """The CI results of a version: tests run, failed, coverage."""
    seed = f"{service}@{version}"
    return {"tests": stable_number(seed, 300, 900), "failed": 0, "coverage": stable_number(seed, 78, 94)}


@deploy.tool_plain(
    name="deploy",
    requires_approval=True,
    metadata={
        "inbox": {
            "title": "Deploy {service} {version} to {environment}?",
            "decisions": ["approve", "reject"],
            "timeout": 86400,
            "on_expiry": "reject",
        }
    },
)
def deploy_service(
    service: str,
    version: str,
    environment: Literal["staging", "production"],
    strategy: Literal["canary", "rolling", "all-at-once"],
) -> dict[str, str]:
    """Deploy a version of a service to an environment."""
    return {"log": f"{service} {version} is live on {environment} ({strategy}), deployment {durable.step_id()}"}


@durable.workflow(name="deploy_agent")
def deploy_agent(service: str, version: str) -> DeployResult:
    progress(f"Planning the deploy of {service} {version}")
    result = run_sync(
        deploy, prompt(f"Ship {service} {version} to production.", {"service": service, "version": version})
    )
    output: DeployResult = result.output
    progress("Deployed" if output["status"] == "deployed" else "Not deployed")
    return output
