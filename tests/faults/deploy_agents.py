"""An agent whose code changes between "deploys".

The version is read once, at import, from the file named by DURABLE_FAULTS_DEPLOY: a worker
process started after the test rewrites that file runs the new code, like a real deploy.
  v1               the original code
  v2-compatible    same operations in the same order; the last step's body changed
  v2-incompatible  the first step was renamed: a recorded history no longer matches
"""

import os
from pathlib import Path

import durable

from .agents import side_effect


def _version() -> str:
    path = os.environ.get("DURABLE_FAULTS_DEPLOY")
    return Path(path).read_text().strip() if path and Path(path).exists() else "v1"


VERSION = _version()


@durable.step()
def plan(n: int) -> str:
    side_effect("plan")
    return f"plan-{n}"


@durable.step()
def plan_v2(n: int) -> str:
    side_effect("plan_v2")
    return f"plan2-{n}"


@durable.step()
def finish(plan_text: str, answer: str) -> str:
    side_effect("finish")
    return f"{VERSION}|{plan_text}|{answer}"


@durable.workflow()
def deployed_agent(n: int) -> str:
    planned = plan_v2(n) if VERSION == "v2-incompatible" else plan(n)
    answer = durable.recv("go", timeout=600)
    return finish(planned, answer)
