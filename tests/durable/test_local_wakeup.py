"""On SQLite, a start or a send wakes the local worker at once (a datagram after the commit),
instead of at its next poll."""

import socket

import pytest
from django.db import connection

import durable
from durable.notify import local_dir
from tests import workflows as w
from tests.durable.conftest import wait_started, wait_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

POLL = 60.0  # far longer than the test may take: only a wake-up can finish the run in time


@pytest.fixture
def sqlite_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the local wake-up is SQLite's (PostgreSQL has LISTEN/NOTIFY)")


def test_a_start_and_a_send_from_another_process_wake_a_worker_polling_every_minute(sqlite_only, worker_processes):
    worker_processes.start(poll=POLL, lease=3 * POLL)
    wait_started(worker_processes)
    handle = durable.start(w.collect, "t", 1, timeout=3600)
    wait_status(handle, "WAITING", timeout=20)  # claimed and parked after the start's wake-up
    durable.send(handle.id, "hello", topic="t")
    assert handle.result(timeout=20) == ["hello"]  # woken by the send, not by a poll


def test_a_start_with_a_dead_workers_socket_left_behind_succeeds_and_removes_it(sqlite_only):
    directory = local_dir("default")
    assert directory is not None
    directory.mkdir(exist_ok=True)
    stale = directory / "killed-worker"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(stale))  # bound, then closed without unlinking: as a SIGKILLed worker leaves it
    handle = durable.start(w.collect, "t", 1)
    assert handle.id and not stale.exists()
