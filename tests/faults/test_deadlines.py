"""A deadline that passes while no worker runs: the timeout path runs once, as soon as a worker is back."""

from datetime import timedelta

import pytest
from django.utils import timezone

import durable
from durable.models import Checkpoint, Status, WorkflowRun
from tests.faults import agents
from tests.faults.conftest import LedgerReport, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RUNS = 20
TIMEOUT = 4.0


def test_a_deadline_missed_while_every_worker_was_down_fires_once_after_restart(
    worker_processes, ledger, scenario_report
):
    proc = worker_processes.start()
    ids = [durable.start(agents.deadline_agent, TIMEOUT).id for _ in range(RUNS)]
    parked = wait_for(
        lambda: (runs := list(WorkflowRun.objects.filter(wait_topic="approval"))) and len(runs) == RUNS and runs,
        30,
        "every run to park on its approval",
    )
    deadlines = {r.id: r.wait_until for r in parked}
    worker_processes.kill(proc)  # SIGKILL: nothing runs anywhere while the deadlines pass

    latest = max(deadlines.values())
    wait_for(lambda: timezone.now() > latest + timedelta(seconds=0.5), 2 * TIMEOUT, "the deadlines to pass")
    still_waiting = WorkflowRun.objects.filter(id__in=ids, status=Status.WAITING).count()
    restarted = timezone.now()
    worker_processes.start()
    results = [durable.retrieve(i).result(timeout=30) for i in ids]

    report = LedgerReport.read(ledger)
    paths = sorted(report.labels.values())
    recvs = {cp.run_id: cp for cp in Checkpoint.objects.filter(run_id__in=ids, kind="recv")}
    # Includes the worker's boot, which on a loaded CI machine can itself exceed TIMEOUT.
    after_restart = max(cp.finished_at for cp in recvs.values()) - restarted
    scenario_report(
        runs=RUNS,
        kills=1,
        timeout_paths_run=paths.count("timeout-path"),
        failures=sum(r != "timeout-path:0" for r in results),
        deadline_moved=sum(recvs[i].deadline != deadlines[i] for i in ids),
        data_lost=RUNS - len(recvs),
        seconds_from_restart_to_all_fired=round(after_restart.total_seconds(), 1),
    )
    assert still_waiting == RUNS, "nothing may act on a run while no worker runs"
    assert results == ["timeout-path:0"] * RUNS
    assert paths == ["timeout-path"] * RUNS, "the timeout path must run exactly once per run"
    assert report.repeated() == {}
    assert all(recvs[i].deadline == deadlines[i] for i in ids), "the restart must not reset a persisted deadline"
