"""Workers SIGKILLed at random moments while 200 mixed agents run: nothing lost, nothing twice."""

import random
import threading
import time
from collections import defaultdict

import pytest
from django.db import connections
from django.utils import timezone

import durable
from durable.models import TERMINAL, Checkpoint, Event, Message, Status, WorkflowRun
from tests.conftest import is_postgres, retried
from tests.faults import agents
from tests.faults.conftest import LedgerReport, wait_for
from tests.workflows import ledger as ledger_line

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RUNS = 200
MAX_KILLS = 20  # a third on SQLite: with its single worker every kill stalls all runs until the lease ends
LEASE = 2.0


def unfinished() -> int:
    return retried(WorkflowRun.objects.exclude(status__in=TERMINAL).count)


def pids_holding_runs() -> set[int]:
    running = WorkflowRun.objects.filter(status=Status.RUNNING)
    owners = retried(lambda: list(running.values_list("lease_owner", flat=True)))
    return {int(owner.split(":")[1]) for owner in owners if owner}


def kill_at_random(worker_processes, procs, rng, busy, budget_s: float) -> set[int]:
    """At random moments, SIGKILL a worker that is executing runs and start a fresh one in its place."""
    killed: set[int] = set()
    stop_at = time.monotonic() + budget_s
    while len(killed) < (MAX_KILLS if is_postgres() else MAX_KILLS // 3) and time.monotonic() < stop_at and busy():
        # The random pause *is* the fault schedule, not a wait for some state.
        time.sleep(rng.uniform(0.2, 1.2))
        working = [i for i, p in enumerate(procs) if p.pid in pids_holding_runs()]
        if not working:
            continue  # a kill during a worker's boot proves nothing
        i = rng.choice(working)
        killed.add(procs[i].pid)
        worker_processes.kill(procs[i])
        ledger_line(f"fault - kill {procs[i].pid}")  # written once the worker is dead
        procs[i] = worker_processes.start(lease=LEASE)
    return killed


def start_gradually(seed: int, stop_at: float) -> threading.Thread:
    """Start the runs spread over the kill window, so kills land in every phase of a run."""
    rng = random.Random(seed)

    def starter():
        try:
            for n in range(RUNS):
                durable.start(agents.mixed_agent, n, workflow_id=f"mixed-{n}")
                time.sleep(rng.uniform(0, 2 * max(0.0, stop_at - time.monotonic()) / (RUNS - n)))
        finally:
            connections.close_all()

    thread = threading.Thread(target=starter, name="starter")
    thread.start()
    return thread


def stuck_runs() -> list[tuple]:
    now = timezone.now()
    return [
        (r.id, r.status, r.wait_topic, r.lease_owner, r.ready_at and round((r.ready_at - now).total_seconds(), 1))
        for r in WorkflowRun.objects.exclude(status__in=TERMINAL)[:10]
    ]


def checkpoint_shapes() -> dict[str, list[tuple[int, str, str, bool]]]:
    shapes = defaultdict(list)
    for run_id, seq, kind, name, finished in Checkpoint.objects.order_by("run_id", "seq").values_list(
        "run_id", "seq", "kind", "name", "finished_at"
    ):
        shapes[run_id].append((seq, kind, name, finished is not None))
    return shapes


def wrong_histories(parents: list[str]) -> list[str]:
    """Runs whose checkpoints differ from the one expected shape (a missing, extra or unfinished op)."""
    shapes = checkpoint_shapes()
    bad = []
    for run_id in parents:
        for rid, expected in ((run_id, agents.mixed_shape(run_id)), (f"{run_id}-1", agents.CHILD_SHAPE)):
            if shapes[rid] != [(*op, True) for op in expected]:
                bad.append(f"{rid}: {shapes[rid]}")
    return bad


def lost_messages_and_events(parents: list[str]) -> list[str]:
    problems = [f"unconsumed message {m}" for m in Message.objects.filter(consumed_at__isnull=True)]
    per_dest = defaultdict(list)
    for dest, topic in Message.objects.values_list("destination_id", "topic"):
        per_dest[dest].append(topic)
    events = defaultdict(list)
    for run_id, value in Event.objects.order_by("id").values_list("run_id", "value"):
        events[run_id].append(value)
    for run_id in parents:
        if per_dest[run_id] != ["self"] or per_dest[f"{run_id}-1"] != ["ping"]:
            problems.append(f"messages of {run_id}: {per_dest[run_id]} / child {per_dest[f'{run_id}-1']}")
        if events[run_id] != ['"started"', '"done"']:
            problems.append(f"events of {run_id}: {events[run_id]}")
    return problems


def test_mixed_agents_survive_random_sigkills(worker_processes, ledger, scenario_report):
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    # SQLite is the single-worker-process engine; PostgreSQL runs two competing workers.
    procs = [worker_processes.start(lease=LEASE) for _ in range(2 if is_postgres() else 1)]
    began = time.monotonic()
    parents = [f"mixed-{n}" for n in range(RUNS)]
    starter = start_gradually(seed, stop_at=began + 20)
    try:
        busy = lambda: starter.is_alive() or unfinished()  # noqa: E731
        killed = kill_at_random(worker_processes, procs, rng, busy=busy, budget_s=60)
    finally:
        starter.join()  # a failure must not leave it starting runs into the next test's database
    try:
        wait_for(lambda: unfinished() == 0, 90, f"every run to finish (seed {seed})", interval=0.2)
    except AssertionError as timeout:
        raise AssertionError(f"{timeout}; still unfinished: {stuck_runs()}") from None

    runs = {r.id: r for r in WorkflowRun.objects.all()}
    wrong = [
        rid
        for n, rid in enumerate(parents)
        if runs[rid].status != Status.SUCCESS or runs[rid].result_value != agents.mixed_expected(n)
    ]
    failed_children = [f"{rid}-1" for rid in parents if runs[f"{rid}-1"].status != Status.SUCCESS]
    histories = wrong_histories(parents)
    lost = lost_messages_and_events(parents)
    report = LedgerReport.read(ledger)
    unexplained = report.unexplained_repeats()
    torn, complete = report.repeats_by_cause()
    missing_steps = 3 * RUNS - len(report.attempts)
    scenario_report(
        runs=2 * RUNS,
        workers=len(procs),
        kills=len(killed),
        recoveries=sum(r.recovery_attempts for r in runs.values()),
        steps_repeated_after_kill=torn + complete,
        repeats_torn=torn,
        repeats_after_end_before_checkpoint=complete,
        failures=len(wrong) + len(failed_children),
        wrong_histories=len(histories),
        unexplained_repeats=len(unexplained),
        data_lost=len(lost) + missing_steps,
        seconds=round(time.monotonic() - began, 1),
        seed=seed,
    )
    assert len(killed) >= 5, "the scenario must actually kill workers"
    assert sum(r.recovery_attempts for r in runs.values()) > 0, "no kill landed on a run in flight"
    assert wrong == [] and failed_children == [], f"wrong results (seed {seed}): {wrong[:5]} {failed_children[:5]}"
    assert histories == [], f"checkpoint history differs (seed {seed}): {histories[:5]}"
    assert lost == [], lost[:5]
    assert missing_steps == 0 and report.unfinished_last_attempts() == []
    assert unexplained == [], f"steps repeated without a kill inside them: {unexplained[:5]}"
    assert "Traceback" not in worker_processes.logs()
