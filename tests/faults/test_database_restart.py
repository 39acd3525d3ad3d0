"""PostgreSQL restarted in the middle of runs: workers reconnect by themselves and every run finishes.

The server restarted is the test's own throwaway cluster (``cluster_db``), never the machine's.
"""

import time

import pytest
from django.db import connections

import durable
from durable.models import TERMINAL, Checkpoint, Status, WorkflowRun
from tests.faults import agents
from tests.faults.conftest import LedgerReport, settled, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RUNS = 30
STEPS = [f"s{i}" for i in range(6)]


def test_workers_reconnect_after_postgres_restarts_mid_run(cluster_db, ledger, scenario_report):
    procs = [cluster_db.workers.start(lease=3.0) for _ in range(2)]
    ids = [durable.start(agents.steady_agent, n).id for n in range(RUNS)]
    wait_for(
        lambda: Checkpoint.objects.filter(run_id__in=ids, kind="step").count() >= RUNS,
        60,
        "the runs to be under way",
    )
    in_flight = WorkflowRun.objects.filter(id__in=ids).exclude(status__in=TERMINAL).count()
    began = time.monotonic()
    cluster_db.restart()
    connections.close_all()  # this process's connections died with the server too
    wait_for(
        settled(lambda: not WorkflowRun.objects.filter(id__in=ids).exclude(status__in=TERMINAL).exists()),
        90,
        "every run to finish after the restart",
        interval=0.2,
    )
    recovered_in = time.monotonic() - began

    runs = WorkflowRun.objects.in_bulk(ids)
    wrong = [
        i
        for n, i in enumerate(ids)
        if runs[i].status != Status.SUCCESS or runs[i].result_value != [f"{s}:{n}" for s in STEPS]
    ]
    shapes = {
        i: list(Checkpoint.objects.filter(run_id=i).order_by("seq").values_list("kind", "name", "finished_at"))
        for i in ids
    }
    expected = [("step", "slow_work")] * 3 + [("sleep", "sleep")] + [("step", "slow_work")] * 3
    bad_histories = [
        i for i in ids if [(k, n) for k, n, f in shapes[i]] != expected or None in [f for *_, f in shapes[i]]
    ]
    report = LedgerReport.read(ledger)
    data_lost = len(ids) * len(STEPS) - len(report.attempts)  # steps of a finished run never performed
    scenario_report(
        runs=RUNS,
        in_flight_at_restart=in_flight,
        database_restarts=1,
        seconds_to_finish_after_restart=round(recovered_in, 1),
        steps_repeated=len(report.repeated()),
        failures=len(wrong),
        wrong_histories=len(bad_histories),
        workers_crashed=sum(p.poll() is not None for p in procs),
        unexplained_repeats=len(report.unexplained_repeats()),
        data_lost=data_lost,
    )
    assert in_flight > 0, "the restart must hit runs in the middle"
    assert wrong == [], [(i, runs[i].status, runs[i].error_message) for i in wrong[:5]]
    assert bad_histories == []
    assert [p.poll() for p in procs] == [None, None], "workers must survive the outage"
    assert report.unfinished_last_attempts() == [] and data_lost == 0
    assert report.unexplained_repeats() == [], "a step repeated though the restart came after it was recorded"
