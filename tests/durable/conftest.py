"""Helpers for engine tests: poll the database for a condition instead of sleeping."""

import time

import pytest

from durable.models import Checkpoint, WorkflowRun


def wait_for(predicate, timeout=15.0, what="the condition"):
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


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
