"""PostgreSQL restarted in the middle of runs: workers reconnect by themselves and every run finishes."""

import os
import shutil
import subprocess
import time

import pytest
from django.db import OperationalError, connection, connections
from django.db.utils import InterfaceError

import durable
from durable.models import TERMINAL, Checkpoint, Status, WorkflowRun
from tests.faults import agents
from tests.faults.conftest import LedgerReport, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RUNS = 30
STEPS = [f"s{i}" for i in range(6)]


def cluster_serving(port: int) -> tuple[str, str, str] | None:
    """(version, name, status) of the local cluster listening on ``port``, from pg_lsclusters."""
    out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        version, name, cluster_port, status, *_ = line.split()
        if int(cluster_port) == port:
            return version, name, status
    return None


def pg_ctl(version: str, name: str, action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, action], check=True, capture_output=True
    )


@pytest.fixture
def postgres_restart(postgres_only):
    """A callable that restarts the PostgreSQL cluster the tests use; PostgreSQL is up again afterwards,
    whatever happened."""
    if os.geteuid() != 0 or not shutil.which("pg_ctlcluster"):
        pytest.skip("restarting PostgreSQL needs root and pg_ctlcluster (Debian's postgresql-common)")
    cluster = cluster_serving(int(connection.settings_dict["PORT"] or 5432))
    if cluster is None or connection.settings_dict["HOST"] not in ("127.0.0.1", "localhost", ""):
        pytest.skip("the test database is not served by a local pg_ctlcluster cluster")
    version, name, _ = cluster

    def restart() -> None:
        pg_ctl(version, name, "restart")
        connections.close_all()  # this process's connections died with the server too

    yield restart
    if cluster_serving(int(connection.settings_dict["PORT"] or 5432))[2] != "online":
        pg_ctl(version, name, "start")
    connections.close_all()


def settled(predicate):
    """Evaluate ``predicate`` against the database, treating a connection still broken as "not yet"."""

    def check():
        try:
            return predicate()
        except (OperationalError, InterfaceError):
            connections.close_all()
            return False

    return check


def test_workers_reconnect_after_postgres_restarts_mid_run(worker_processes, postgres_restart, ledger, scenario_report):
    procs = [worker_processes.start(lease=3.0) for _ in range(2)]
    ids = [durable.start(agents.steady_agent, n).id for n in range(RUNS)]
    wait_for(
        lambda: Checkpoint.objects.filter(run_id__in=ids, kind="step").count() >= RUNS,
        60,
        "the runs to be under way",
    )
    in_flight = WorkflowRun.objects.filter(id__in=ids).exclude(status__in=TERMINAL).count()
    began = time.monotonic()
    postgres_restart()
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
    scenario_report(
        runs=RUNS,
        in_flight_at_restart=in_flight,
        database_restarts=1,
        seconds_to_finish_after_restart=round(recovered_in, 1),
        steps_repeated=len(report.repeated()),
        failures=len(wrong),
        wrong_histories=len(bad_histories),
        workers_crashed=sum(p.poll() is not None for p in procs),
        data_lost=len(ids) * len(STEPS) - len(report.attempts),
    )
    assert in_flight > 0, "the restart must hit runs in the middle"
    assert wrong == [], [(i, runs[i].status, runs[i].error_message) for i in wrong[:5]]
    assert bad_histories == []
    assert [p.poll() for p in procs] == [None, None], "workers must survive the outage"
    assert report.unfinished_last_attempts() == []
