"""A deploy while agents wait: compatible code resumes them; incompatible code stops them with a
non-determinism error the admin shows, and fork or cancel resolves it."""

import html
import re

import pytest
from django.contrib.auth import get_user_model

import durable
from durable.models import Status, WorkflowRun
from tests.faults import deploy_agents
from tests.faults.conftest import LedgerReport, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RUNS = 6


@pytest.fixture
def deploy(tmp_path, monkeypatch, worker_processes):
    """``deploy(version)``: stop the workers (SIGTERM), switch the code, start a worker on it."""
    version_file = tmp_path / "version"
    monkeypatch.setenv("DURABLE_FAULTS_DEPLOY", str(version_file))

    def go(version: str):
        worker_processes.stop_all()
        version_file.write_text(version)
        return worker_processes.start()

    return go


def parked_on_go(ids):
    return WorkflowRun.objects.filter(id__in=ids, status=Status.WAITING, wait_topic="go").count() == len(ids)


def start_and_park(n: int) -> list[str]:
    ids = [durable.start(deploy_agents.deployed_agent, i).id for i in range(n)]
    wait_for(lambda: parked_on_go(ids), 30, "the agents to park on 'go'")
    return ids


def test_a_compatible_deploy_resumes_waiting_agents_on_the_new_code(deploy, ledger, scenario_report):
    deploy("v1")
    ids = start_and_park(RUNS)
    deploy("v2-compatible")
    for i in ids:
        durable.send(i, "yes", topic="go")
    results = [durable.retrieve(i).result(timeout=30) for i in ids]

    labels = sorted(LedgerReport.read(ledger).labels.values())
    scenario_report(runs=RUNS, deploys=2, failures=sum(not r.startswith("v2-compatible|") for r in results))
    assert results == [f"v2-compatible|plan-{n}|yes" for n in range(RUNS)]
    assert labels == sorted(["plan"] * RUNS + ["finish"] * RUNS), "the step before the deploy must not run again"


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(user)
    return client


def admin_text(admin_client, run_id: str) -> str:
    response = admin_client.get(f"/admin/durable/workflowrun/{run_id}/change/")
    assert response.status_code == 200
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def test_an_incompatible_deploy_stops_with_an_error_the_admin_shows_and_fork_or_cancel_resolves(
    deploy, ledger, admin_client, scenario_report
):
    deploy("v1")
    woken, waiting = start_and_park(2)
    deploy("v2-incompatible")
    durable.send(woken, "yes", topic="go")
    with pytest.raises(durable.NonDeterminismError):
        durable.retrieve(woken).result(timeout=30)

    page = admin_text(admin_client, woken)
    assert "NonDeterminismError" in page
    assert "not deterministic at operation #0" in page
    assert "recorded step 'plan' but the code now does step 'plan_v2'" in page
    assert "durable.fork(run_id, from_step=0)" in page

    # Resolve the failed run the way an operator would: fork it from the step that changed.
    response = admin_client.post(f"/admin/durable/workflowrun/{woken}/fork/", {"from_step": 0})
    assert response.status_code == 302
    fork_id = response["Location"].rstrip("/").split("/")[-2]
    wait_for(lambda: parked_on_go([fork_id]), 30, "the fork to park on 'go'")
    durable.send(fork_id, "yes again", topic="go")
    forked_result = durable.retrieve(fork_id).result(timeout=30)

    # The other run is still parked on the old history: cancelling it means it never replays.
    durable.cancel(waiting)
    cancelled = WorkflowRun.objects.get(id=waiting)
    durable.send(waiting, "too late", topic="go")

    labels = LedgerReport.read(ledger).labels
    scenario_report(
        runs=3,
        deploys=2,
        nondeterminism_errors=WorkflowRun.objects.filter(error_message__startswith="NonDeterminismError").count(),
        resolved_by_fork=int(forked_result == "v2-incompatible|plan2-0|yes again"),
        resolved_by_cancel=int(cancelled.status == Status.CANCELLED),
    )
    assert forked_result == "v2-incompatible|plan2-0|yes again"
    assert cancelled.status == Status.CANCELLED and "Cancelled" in admin_text(admin_client, waiting)
    assert WorkflowRun.objects.get(id=waiting).status == Status.CANCELLED, "a message must not revive it"
    assert not [sid for sid, label in labels.items() if sid.startswith(waiting) and label != "plan"]
    assert WorkflowRun.objects.get(id=woken).status == Status.ERROR, "the failed run keeps its history"
