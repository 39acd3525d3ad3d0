"""The worker is SIGKILLed at random moments: every run still finishes exactly right."""

import os
import random
import time
from collections import defaultdict

import pytest
from django.db import connection
from django.utils import timezone

import durable
from durable.models import Checkpoint, WorkflowRun
from tests import workflows as w
from tests.durable.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def parse_ledger(lines):
    """{run id: [(event, step, pid), ...]} in the order the lines were written."""
    by_run = defaultdict(list)
    for line in lines:
        event, run_id, step, pid = line.split()
        by_run[run_id].append((event, int(step), int(pid)))
    return by_run


def check_run_ledger(run_id, entries, killed):
    """A step may repeat only when the kill landed inside its previous attempt: that attempt's
    worker was SIGKILLed before it went on to the next step of this run."""
    attempts = defaultdict(list)  # step -> [[pid, ended, index of start]]
    for index, (event, step, pid) in enumerate(entries):
        if event == "start":
            if step > 1:
                assert attempts[step - 1] and attempts[step - 1][-1][1], (
                    f"{run_id}: step {step} started before step {step - 1} ended: {entries}"
                )
            attempts[step].append([pid, False, index])
        else:
            last = attempts[step][-1]
            assert last[0] == pid and not last[1], f"{run_id}: unmatched end of step {step}: {entries}"
            last[1] = True
    assert sorted(attempts) == [1, 2, 3, 4, 5], f"{run_id}: steps missing: {entries}"
    repeats = 0
    for step, tries in attempts.items():
        assert tries[-1][1], f"{run_id}: the last attempt of step {step} never ended: {entries}"
        for pid, _ended, start in tries[:-1]:
            repeats += 1
            assert pid in killed, f"{run_id}: step {step} repeated though its worker {pid} was not killed: {entries}"
            later = [e for e in entries[start + 1 :] if e[2] == pid and e[1] > step]
            assert not later, f"{run_id}: step {step} repeated though worker {pid} had moved on: {entries}"
    return repeats


def test_five_step_runs_survive_random_sigkills(worker_processes, ledger):
    seed = int(os.environ.get("DURABLE_TEST_SEED", time.time()))
    rng = random.Random(seed)
    count = 60
    handles = {i: durable.start(w.five_steps, i * 100, workflow_id=f"chaos-{i}") for i in range(count)}
    unfinished = WorkflowRun.objects.filter(id__startswith="chaos-").exclude(status="SUCCESS")

    killed = set()
    stop_killing = time.monotonic() + 35
    while len(killed) < 6 and unfinished.exists() and time.monotonic() < stop_killing:
        proc = worker_processes.start(concurrency=4, lease=1.0, poll=0.05)
        wait_for(
            lambda: any(line.endswith(f" {proc.pid}") for line in w.ledger_lines("start ")) or not unfinished.exists(),
            30,
            f"worker {proc.pid} to start working (seed {seed})",
        )
        time.sleep(rng.uniform(0.0, 0.6))  # the random moment of the kill, not a synchronisation
        worker_processes.kill(proc)
        killed.add(proc.pid)

    worker_processes.start(concurrency=4, lease=1.0, poll=0.05)
    for i, handle in handles.items():
        assert handle.result(timeout=60) == i * 100 + 15, f"seed {seed}"

    repeats = sum(
        check_run_ledger(run_id, entries, killed) for run_id, entries in parse_ledger(w.ledger_lines()).items()
    )
    for i, handle in handles.items():
        cps = list(Checkpoint.objects.filter(run_id=handle.id).order_by("seq").values_list("seq", "name", "output"))
        expected = [i * 100 + sum(range(1, k + 2)) for k in range(5)]
        assert cps == [(k, "chaos_step", str(v)) for k, v in enumerate(expected)], f"seed {seed}"
    recovered = sum(WorkflowRun.objects.filter(id__startswith="chaos-").values_list("recovery_attempts", flat=True))
    print(f"seed {seed} ({connection.vendor}): {len(killed)} kills, {recovered} recoveries, {repeats} repeated steps")
    assert len(killed) >= 3, "the workload finished before the kills could test anything"
    assert recovered >= 1, f"no kill landed while a run was in flight (seed {seed})"


def test_a_deadline_that_passed_while_no_worker_ran_fires_once_when_workers_start(worker_processes, ledger):
    first = worker_processes.start()
    handles = [durable.start(w.times_out, 4.0) for _ in range(20)]  # long enough to park all before any fires
    waiting = WorkflowRun.objects.filter(id__in=[h.id for h in handles], status="WAITING")
    wait_for(lambda: waiting.count() == 20, what="all runs to park")
    first.terminate()
    assert first.wait(timeout=30) == 0
    latest = max(waiting.values_list("wait_until", flat=True))
    wait_for(lambda: timezone.now() > latest, what="every deadline to pass")
    assert waiting.count() == 20, "a deadline fired without a worker"

    worker_processes.start()  # two workers race for the expired runs
    worker_processes.start()
    for h in handles:
        assert h.result(timeout=30) is None
    for h in handles:
        assert w.ledger_lines(f"timeout {h.id} ") == [f"timeout {h.id} None"]
        assert Checkpoint.objects.filter(run_id=h.id, kind="recv").count() == 1
