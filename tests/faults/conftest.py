"""Fault-injection helpers: polling with a deadline, ledger analysis, and the scenario table.

Every scenario records its numbers (runs, kills, failures, data lost) with ``scenario_report``;
they are printed as one line per test and as a table at the end of the session, so the README's
table can be refreshed from a CI log.
"""

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread

SCENARIOS: list[dict] = []


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Attempt:
    pid: int
    ended: bool = False


@dataclass
class LedgerReport:
    """Step attempts by step id (``run:seq``), in the order they happened."""

    attempts: dict[str, list[Attempt]] = field(default_factory=lambda: defaultdict(list))
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path) -> "LedgerReport":
        report = cls()
        for line in path.read_text().splitlines():
            what, sid, label, pid = line.split(" ")
            report.labels[sid] = label
            if what == "start":
                report.attempts[sid].append(Attempt(int(pid)))
            else:
                last = report.attempts[sid][-1]
                assert last.pid == int(pid) and not last.ended, f"ledger out of order at {line!r}"
                last.ended = True
        return report

    def repeated(self) -> dict[str, list[Attempt]]:
        return {sid: a for sid, a in self.attempts.items() if len(a) > 1}

    def unexplained_repeats(self, killed_pids: set[int]) -> list[str]:
        """Steps that ran more than once although no kill landed in an earlier attempt.

        An earlier attempt is explained if its worker was SIGKILLed: either the kill landed
        between its start and end lines, or after its end line and before the checkpoint
        committed (a window of one INSERT). Both are "a kill inside the step"."""
        bad = []
        for sid, attempts in self.repeated().items():
            if any(a.pid not in killed_pids for a in attempts[:-1]):
                bad.append(f"{sid} ({self.labels[sid]}): {attempts}")
        return bad

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
        SCENARIOS.append(row)
        print("\nFAULT-SCENARIO " + json.dumps(row))

    return report


def pytest_terminal_summary(terminalreporter):
    if not SCENARIOS:
        return
    terminalreporter.section("fault-injection scenarios")
    for row in SCENARIOS:
        terminalreporter.write_line(json.dumps(row))
