"""Agents parked on an inbox approval hold no worker thread, however many of them wait."""

import psutil
import pytest

import durable
from durable.models import WorkflowRun
from inbox.models import Request
from tests.agents import agents
from tests.inbox.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_agents_waiting_for_approval_hold_no_thread(worker_processes, ledger):
    proc = worker_processes.start(concurrency=2, poll=0.05)
    wait_for(lambda: " started: " in worker_processes.logs(), 60, "the worker to start")
    idle = psutil.Process(proc.pid).num_threads()  # its fixed threads: main, run pool, lease, timers, wake-ups
    for i in range(12):  # six times the worker's concurrency
        durable.start(agents.refund_agent, f"A-{i}")
    waiting = WorkflowRun.objects.filter(status="WAITING", wait_topic="inbox")
    wait_for(lambda: waiting.count() == 12, 60, "12 agents to wait in the inbox")
    assert Request.objects.filter(status="open").count() == 12
    # The event loop each agent ran on ended with its park, so nothing stays per waiting agent: at
    # most a couple of threads that libraries start once (not one per agent: 12 wait).
    threads = psutil.Process(proc.pid).num_threads()
    assert threads <= idle + 2, f"the worker holds {threads} threads ({idle} idle) for 12 agents waiting for approval"
    worker_processes.check()
