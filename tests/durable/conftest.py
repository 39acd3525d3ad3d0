"""Helpers for engine tests: poll the database for a condition instead of sleeping."""

import contextlib
import threading

from durable.models import Checkpoint, WorkflowRun
from durable.worker import Worker
from tests.conftest import wait_for as wait_for  # the one definition, for the tests that import it here


def run_of(handle_or_id) -> WorkflowRun:
    return WorkflowRun.objects.get(id=getattr(handle_or_id, "id", handle_or_id))


def wait_status(handle, *statuses, timeout=15.0) -> WorkflowRun:
    """Wait until the run is in one of ``statuses`` and return its row."""

    def reached():
        run = run_of(handle)
        return run if run.status in statuses else None

    return wait_for(reached, timeout, f"run {handle.id} to be {'/'.join(statuses)}")


def checkpoints(handle) -> list[tuple[int, str, str]]:
    return list(Checkpoint.objects.filter(run_id=handle.id).order_by("seq").values_list("seq", "kind", "name"))


@contextlib.contextmanager
def running_worker(**options):
    """An in-process worker started at a moment the test chooses (the ``worker`` fixture starts at setup)."""
    options = {"concurrency": 4, "poll_interval": 0.05, "lease_seconds": 5, **options}
    worker = Worker(**options)
    thread = threading.Thread(target=worker.run, name="test-worker-late", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the in-process worker did not stop"


def wait_started(worker_processes, count=1, timeout=30.0):
    """Wait until ``count`` worker subprocesses have logged that they run."""
    wait_for(
        lambda: worker_processes.logs().count(" started: ") >= count,
        timeout,
        f"{count} worker process(es) to start; logs:\n{worker_processes.logs()}",
    )


def concurrency_from_ledger(lines):
    """The most ``start``s without their ``end`` at any point of a ledger of start/end lines."""
    running = peak = 0
    for line in lines:
        if line.startswith("start "):
            running += 1
            peak = max(peak, running)
        elif line.startswith("end "):
            running -= 1
    return peak
