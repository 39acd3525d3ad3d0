"""Application versions and draining (#15) against real worker processes on both databases: a
deploy where old runs finish on the old worker while new runs start on the new one, the old worker
exits once its runs are done, and a run whose version no worker serves is resumed from the admin."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

import durable
from durable import versions
from durable.models import AppVersion
from tests import workflows as w
from tests.durable import run_workflows as r
from tests.durable.conftest import run_of, wait_for, wait_started, wait_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def start_worker(procs, version):
    return procs.start(concurrency=4, poll=0.05, lease=30, env={"DURABLE_APP_VERSION": version})


def test_a_deploy_finishes_old_runs_on_the_old_worker_and_starts_new_runs_on_the_new_one(worker_processes, ledger):
    old = start_worker(worker_processes, "v1")
    wait_started(worker_processes)
    waiting = [durable.start(r.waits_then_steps, f"old-{i}") for i in range(3)]
    assert {wait_status(h, "WAITING").app_version for h in waiting} == {"v1"}
    start_worker(worker_processes, "v2")
    wait_for(lambda: "version v2 appeared; finishing version v1's runs" in worker_processes.logs(), 30,
             "the old worker to drain")  # fmt: skip
    fresh = [durable.start(w.adder, i, i) for i in range(3)]
    assert [h.result(timeout=30) for h in fresh] == [0, 2, 4]
    assert {run_of(h).app_version for h in fresh} == {"v2"}  # the draining worker starts nothing new
    assert old.poll() is None  # still serving its parked runs
    for i, handle in enumerate(waiting):
        durable.send(handle.id, "go", topic=f"old-{i}")
    assert [h.result(timeout=30) for h in waiting] == [f"old-{i}:go" for i in range(3)]
    assert {run_of(h).app_version for h in waiting} == {"v1"}  # resumed by the v1 worker only
    wait_for(lambda: old.poll() is not None, 30, "the old worker to exit once its runs ended")
    assert old.returncode == 0
    assert "no run of version v1 is left unfinished; exiting" in worker_processes.logs()
    assert list(AppVersion.objects.order_by("first_seen_at").values_list("name", flat=True)) == ["v1", "v2"]


def test_a_run_whose_version_is_gone_waits_until_the_admin_forks_it(worker_processes, admin_client):
    orphan = durable.start(r.waits_then_steps, "t")
    old = start_worker(worker_processes, "v1")
    wait_status(orphan, "WAITING")
    old.terminate()  # the v1 deploy is gone, with its run parked
    old.wait(timeout=30)
    start_worker(worker_processes, "v2")
    wait_started(worker_processes, 2)
    durable.send(orphan.id, "late", topic="t")
    # Work the v2 worker takes after the orphan became runnable: the orphan was passed over.
    assert durable.start(w.adder, 1, 1).result(timeout=30) == 2
    assert (run_of(orphan).status, run_of(orphan).app_version) == ("ENQUEUED", "v1")
    changelist = reverse("admin:durable_workflowrun_changelist")
    assert "v1" in admin_client.get(changelist).content.decode()  # the list shows each run's version
    admin_client.post(changelist, {"action": "resume_on_current_version", "_selected_action": [orphan.id]})
    assert orphan.result(timeout=30) == "t:late"  # replayed on the v2 worker, with the message it had
    assert run_of(orphan).app_version == "v2"
    admin_client.post(changelist, {"action": "fork_on_current_version", "_selected_action": [orphan.id]})
    [fork] = durable.list_workflows(name=orphan.get().name).filter(forked_from=orphan.id)
    assert durable.retrieve(fork.id).result(timeout=30) == "t:late"  # every checkpoint reused
    assert run_of(fork).app_version == "v2"


def test_the_default_version_is_a_hash_of_the_workflow_modules(settings):
    settings.DURABLE_IMPORTS = ["tests.workflows"]
    assert "tests.workflows" in versions.workflow_modules()
    assert len(versions.code_hash()) == 12
    settings.DURABLE_APP_VERSION = "release-7"
    assert versions.current() == "release-7"
    settings.DURABLE_APP_VERSION = "x" * 65
    with pytest.raises(ImproperlyConfigured, match="at most 64"):
        versions.current()
