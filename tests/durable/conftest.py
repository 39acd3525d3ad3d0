"""Helpers for engine tests: poll the database for a condition instead of sleeping."""

import contextlib
import threading
import time

from django.db import connection
from django.utils import timezone

import durable
from durable import groupcommit
from durable.context import RunContext
from durable.execution import execute
from durable.models import Checkpoint, WorkflowRun
from durable.records import ClaimedRun, ClaimRequest
from durable.worker import Worker
from tests import workflows as w
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


def held_run(owner: str) -> str:
    """A 3-step run, started and marked as executing under ``owner``'s lease."""
    handle = durable.start(w.three_steps)
    WorkflowRun.objects.filter(id=handle.id).update(status="RUNNING", lease_owner=owner)
    return handle.id


def writing_alone() -> bool:
    """Whether one checkpoint write is in flight and none is queued behind it (``groupcommit``)."""
    writer = groupcommit.writer("default")
    with writer.lock:
        return writer.writing and not writer.queue


def write_in_thread(run_id: str, seq: int, owner: str, results: dict) -> threading.Thread:
    """Write a step's checkpoint through ``groupcommit`` from a thread of its own (named
    ``writer-...``); ``results[run_id]`` gets whether the run was still held, or the error."""

    def write():
        cp = Checkpoint(run_id=run_id, seq=seq, kind="step", name="s", output="null", finished_at=timezone.now())
        try:
            results[run_id] = groupcommit.writer("default").write(cp, owner)
        except BaseException as exc:
            results[run_id] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=write, name=f"writer-{run_id[:8]}")
    thread.start()
    return thread


def leased_by_end(worker: Worker, run: ClaimedRun, then: ClaimRequest | None) -> list[str]:
    """Execute ``run`` (claimed by ``worker``) to its end, which leases the runs ``then`` asks for:
    their ids."""
    # confirmed_at: as just after the claim, however slow this machine is
    ctx = RunContext(run_id=run.id, owner=worker.id, checkpoints={}, then=then, confirmed_at=time.monotonic() + 60)
    outcome = execute(run, ctx)
    assert outcome.kind == "succeeded"
    return [r.id for r in outcome.leased]
