"""Fault-injection helpers: polling with a deadline, ledger analysis, and the scenario table.

Every scenario records its numbers (runs, kills, failures, data lost) with ``scenario_report``;
they are printed as one line per test and as a table at the end of the session, so the README's
table can be refreshed from a CI log.
"""

import itertools
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from django.contrib.contenttypes.models import ContentType
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management import call_command
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import InterfaceError, OperationalError, connections
from django.test.testcases import LiveServerThread

from durable.testing import WorkerProcesses
from tests.conftest import ROOT, is_postgres, test_database_url
from tests.conftest import wait_for as wait_for  # the one definition, for the tests that import it here
from tests.pgcluster import TEST_APPLICATION_NAME, Cluster, ClusterUnavailable
from tests.workflows import ledger as ledger_line

SCENARIOS: list[dict] = []


def settled(predicate):
    """``predicate`` evaluated against the database, a connection still broken by a fault meaning
    "not yet"."""

    def check():
        try:
            return predicate()
        except (OperationalError, InterfaceError):
            connections.close_all()
            return False

    return check


@dataclass
class Attempt:
    pid: int
    start: int  # the ledger line numbers of its start and end
    end: int | None = None

    @property
    def ended(self) -> bool:
        return self.end is not None


@dataclass
class Fault:
    line: int
    kind: str
    pid: int  # the worker it hit; 0 for the whole server


@dataclass
class LedgerReport:
    """Step attempts by step id (``run:seq``), in the order they happened, and the faults the test
    injected (``fault - <kind> <pid>`` lines the test writes once the fault has landed)."""

    attempts: dict[str, list[Attempt]] = field(default_factory=lambda: defaultdict(list))
    labels: dict[str, str] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    # (pid, run id) -> the ledger lines that worker wrote for that run
    lines_of: dict[tuple[int, str], list[int]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def read(cls, path) -> "LedgerReport":
        report = cls()
        for number, line in enumerate(path.read_text().splitlines()):
            what, sid, label, pid = line.split(" ")
            if what == "fault":
                report.faults.append(Fault(number, label, int(pid)))
                continue
            report.labels[sid] = label
            report.lines_of[int(pid), sid.rsplit(":", 1)[0]].append(number)
            if what == "start":
                report.attempts[sid].append(Attempt(int(pid), number))
            else:  # two attempts can overlap (two workers, or two threads of one): match by pid
                open_ = [a for a in report.attempts[sid] if a.pid == int(pid) and not a.ended]
                assert open_, f"ledger line {number} ends an attempt that never started: {line!r}"
                open_[-1].end = number
        return report

    def repeated(self) -> dict[str, list[Attempt]]:
        return {sid: a for sid, a in self.attempts.items() if len(a) > 1}

    def explained(self, sid: str, attempt: Attempt) -> bool:
        """An attempt may be repeated only if a fault landed before its worker moved on: a fault
        (on its worker, or on the server) recorded after the attempt started, with no line of the
        same run written by that worker in between (a later step would have committed this step's
        checkpoint first). The same standard as ``tests/durable/test_crashes.py``."""
        run = sid.rsplit(":", 1)[0]
        mine = [n for n in self.lines_of[attempt.pid, run] if n not in (attempt.start, attempt.end)]
        for fault in self.faults:
            if fault.line > attempt.start and fault.pid in (0, attempt.pid):
                return not any(attempt.start < n < fault.line for n in mine)
        return False

    def unexplained_repeats(self) -> list[str]:
        """Steps that ran more than once although no fault landed in an earlier attempt."""
        return [
            f"{sid} ({self.labels[sid]}): {attempts}"
            for sid, attempts in self.repeated().items()
            if not all(self.explained(sid, a) for a in attempts[:-1])
        ]

    def repeats_by_cause(self) -> tuple[int, int]:
        """(repeats after an attempt with a start but no end, repeats after a complete attempt)."""
        torn = complete = 0
        for attempts in self.repeated().values():
            for a in attempts[:-1]:
                if a.ended:
                    complete += 1
                else:
                    torn += 1
        return torn, complete

    def unfinished_last_attempts(self) -> list[str]:
        return [sid for sid, a in self.attempts.items() if not a[-1].ended]


class _BacklogServer(ThreadedWSGIServer):
    # Django's test server queues 10 connections; 50 reviewers clicking at once would be reset
    # by the kernel before Django sees them. A deployed server (gunicorn) queues 2048.
    request_queue_size = 256


class _ServerThread(LiveServerThread):
    server_class = _BacklogServer


@pytest.fixture
def http_server(transactional_db):
    """The project served over real HTTP in a thread, as a deployed server would queue clients."""
    thread = _ServerThread("127.0.0.1", StaticFilesHandler)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()


@pytest.fixture
def scenario_report(request):
    """Call with the scenario's numbers; printed per test and in the session's table."""

    def report(**numbers):
        row = {"scenario": request.node.name, **numbers}
        # On the test's report too: with pytest-xdist the test runs in another process, and the
        # report is what reaches the process that prints the session's table.
        request.node.user_properties.append(("fault_scenario", row))
        print("\nFAULT-SCENARIO " + json.dumps(row))

    return report


# --- a throwaway PostgreSQL cluster ----------------------------------------------------------

TEMPLATE_DB = "durable_template"


@pytest.fixture(scope="session")
def pg_cluster(django_db_setup, django_db_blocker):
    """A PostgreSQL 15 cluster of the session's own (never the machine's), with a migrated template
    database; removed at the end. Skipped on SQLite runs; missing binaries fail the run in CI."""
    if not is_postgres():
        pytest.skip("restarts and reconfigures a PostgreSQL server: PostgreSQL runs only")
    try:
        cluster = Cluster().init()
    except ClusterUnavailable as missing:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI needs a throwaway PostgreSQL cluster: {missing}")
        pytest.skip(str(missing))
    try:
        cluster.create_database(TEMPLATE_DB)
        with django_db_blocker.unblock(), _pointed_at(cluster, TEMPLATE_DB):
            call_command("migrate", verbosity=0, interactive=False)
        yield cluster
    finally:
        connections.close_all()
        cluster.remove()


class _pointed_at:
    """Point Django's default connection (in every thread, and so every subprocess started meanwhile
    with ``test_database_url()``) at a database of ``cluster``; put it back afterwards."""

    def __init__(self, cluster: Cluster, dbname: str) -> None:
        self.settings = connections.settings["default"]
        self.changes = {
            "HOST": "127.0.0.1",
            "PORT": str(cluster.port),
            "NAME": dbname,
            "USER": "postgres",
            "PASSWORD": "",
            "OPTIONS": {**self.settings.get("OPTIONS", {}), "application_name": TEST_APPLICATION_NAME},
        }

    def __enter__(self):
        connections.close_all()
        ContentType.objects.clear_cache()  # its ids are the other database's
        self.saved = {k: self.settings[k] for k in self.changes}
        self.settings.update(self.changes)

    def __exit__(self, *exc):
        connections.close_all()
        ContentType.objects.clear_cache()
        self.settings.update(self.saved)


@dataclass
class ClusterDatabase:
    """A fresh, migrated database on the throwaway cluster, with worker processes pointed at it."""

    cluster: Cluster
    name: str
    workers: WorkerProcesses

    def fault(self, kind: str, pid: int = 0) -> None:
        """Record in the side-effect ledger that a fault has just landed (``pid`` 0: server-wide)."""
        ledger_line(f"fault - {kind} {pid}")

    def restart(self) -> None:
        self.cluster.restart()
        self.fault("restart")

    def stopped_for(self, seconds: float) -> None:
        self.fault("stop")
        self.cluster.stopped_for(seconds)
        self.fault("start")

    def terminate(self, pids: list[int]) -> int:
        done = self.cluster.terminate(pids)
        self.fault("terminate")
        return done

    def worker_backends(self) -> list[int]:
        return self.cluster.backends(self.name)

    def read_only(self, on: bool) -> None:
        self.cluster.read_only(on)
        self.fault("read-only-on" if on else "read-only-off")


_databases = itertools.count()


@pytest.fixture
def cluster_db(transactional_db, pg_cluster, ledger, tmp_path):
    """This test's database on the throwaway cluster: Django (this process and the workers it
    starts) uses it for the test; the server's settings are reset afterwards."""
    name = f"fault_{next(_databases)}"
    pg_cluster.create_database(name, template=TEMPLATE_DB)
    with _pointed_at(pg_cluster, name):
        workers = WorkerProcesses(test_database_url(), tmp_path, ROOT)
        try:
            yield ClusterDatabase(pg_cluster, name, workers)
        finally:
            workers.stop_all()
            if not (pg_cluster.data / "postmaster.pid").exists():
                pg_cluster.start()
            pg_cluster.read_only(False)
            pg_cluster.default_isolation(None)
    pg_cluster.sql(f'DROP DATABASE "{name}" WITH (FORCE)')


def pytest_runtest_logreport(report):
    if report.when == "call":
        SCENARIOS.extend(row for name, row in report.user_properties if name == "fault_scenario")


def pytest_terminal_summary(terminalreporter):
    if not SCENARIOS:
        return
    terminalreporter.section("fault-injection scenarios")
    for row in SCENARIOS:
        terminalreporter.write_line(json.dumps(row))
