"""1,000 sends racing 1,000 parks: every message wakes its run; none is lost or delivered twice."""

import threading
import time

import pytest
from django.db import OperationalError, connections

import durable
from durable.faults import is_rolled_back
from durable.models import TERMINAL, Checkpoint, Message, Status, WorkflowRun
from tests.conftest import is_postgres
from tests.faults import agents
from tests.faults.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RUNS = 1000
CHASERS = 2
SWEEPERS = 2
# Each side of the race must have happened for the test to prove anything: messages that met a
# parked run and messages buffered before the recv (without the parked-run chaser, one run of
# issue #11 had only 7 of 1,000 runs parked before their message).
MIN_EACH_SIDE = 5


class Senders:
    """Send one message to every run: chasers aim at runs a worker is executing right now (between
    claim and park, the race window), one at runs already parked; sweepers go through the rest from
    the end of the queue, against the order workers claim, so that they meet the workers somewhere in
    the middle however fast runs park: behind that point every message is buffered before its recv,
    ahead of it every run has parked first."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.sent: set[str] = set()
        self.lock = threading.Lock()
        self.while_running = 0

    def take(self, run_id: str) -> bool:
        with self.lock:
            if run_id in self.sent:
                return False
            self.sent.add(run_id)
            return True

    def send(self, run_id: str) -> None:
        durable.send(run_id, f"wake {run_id}", topic="wake")

    def chase(self, status: str = Status.RUNNING) -> None:
        while len(self.sent) < len(self.ids):
            try:
                running = list(WorkflowRun.objects.filter(status=status).values_list("id", flat=True)[:20])
            except OperationalError as exc:  # SERIALIZABLE (CockroachDB mode): a read can be told to retry
                if not is_rolled_back(exc):
                    raise
                continue
            hits = [run_id for run_id in running if self.take(run_id)]
            for run_id in hits:
                self.send(run_id)
            if status == Status.RUNNING:
                with self.lock:
                    self.while_running += len(hits)
            if not hits:
                time.sleep(0.001)  # poll interval while no run is in that state

    def sweep(self, offset: int) -> None:
        for run_id in self.ids[::-1][offset::SWEEPERS]:
            if self.take(run_id):
                self.send(run_id)

    def run(self) -> None:
        threads = [threading.Thread(target=closing(self.chase)) for _ in range(CHASERS)]
        threads.append(threading.Thread(target=closing(self.chase), args=(Status.WAITING,)))
        threads += [threading.Thread(target=closing(self.sweep), args=(i,)) for i in range(SWEEPERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def closing(fn):
    def run(*args):
        try:
            fn(*args)
        finally:
            connections.close_all()

    return run


def test_sends_racing_parks_lose_no_wake_up(worker_processes, scenario_report):
    ids = [durable.start(agents.parker, workflow_id=f"parker-{i}").id for i in range(RUNS)]
    for _ in range(2 if is_postgres() else 1):
        worker_processes.start(concurrency=8, poll=0.5)
    # Send as soon as a few runs have parked (each will be woken by a send: one side of the race,
    # whatever the senders' timing), while the workers are still claiming and parking the rest.
    parked = WorkflowRun.objects.filter(status=Status.WAITING)
    wait_for(lambda: parked.count() >= 2 * MIN_EACH_SIDE, 30, f"{2 * MIN_EACH_SIDE} runs to park")
    began = time.monotonic()
    senders = Senders(ids)
    senders.run()
    wait_for(
        lambda: not WorkflowRun.objects.exclude(status__in=TERMINAL).exists(),
        90,
        "every run to get its message",
        interval=0.2,
    )
    seconds = time.monotonic() - began

    runs = WorkflowRun.objects.in_bulk(ids)
    lost = [i for i in ids if runs[i].status != Status.SUCCESS or runs[i].result_value != f"wake {i}"]
    recvs = Checkpoint.objects.filter(run_id__in=ids, kind="recv")
    parked_first = sum(cp.started_at != cp.finished_at for cp in recvs)  # recorded pending, finished later
    scenario_report(
        runs=RUNS,
        sends=RUNS,
        sends_while_run_executing=senders.while_running,
        woken_after_parking=parked_first,
        found_buffered=recvs.count() - parked_first,
        lost_wake_ups=len(lost),
        unconsumed=Message.objects.filter(consumed_at__isnull=True).count(),
        seconds=round(seconds, 1),
    )
    assert lost == [], f"{len(lost)} runs never got their message: {lost[:5]}"
    assert parked_first >= MIN_EACH_SIDE, f"only {parked_first} sends met a parked run: no race was tested"
    assert recvs.count() - parked_first >= MIN_EACH_SIDE, "no message arrived before its recv: no race was tested"
    assert senders.while_running > 0, "no send aimed at a run between its claim and its park"
    assert Message.objects.count() == RUNS and not Message.objects.filter(consumed_at__isnull=True).exists()
    assert recvs.count() == RUNS and not recvs.filter(finished_at__isnull=True).exists()
