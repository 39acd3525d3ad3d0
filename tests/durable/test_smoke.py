import pytest

import durable
from tests import workflows as w

pytestmark = pytest.mark.django_db(transaction=True)


def test_step_result_round_trips_through_a_worker(worker):
    assert durable.start(w.adder, 2, 3).result(timeout=10) == 5


def test_worker_subprocess_runs_a_workflow(worker_processes):
    worker_processes.start()
    assert durable.start(w.adder, 40, 2).result(timeout=30) == 42
