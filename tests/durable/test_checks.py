"""System checks: bad DURABLE_* settings are reported with a hint that says how to fix them."""

import pytest
from django.core import checks
from django.test import override_settings

from durable.checks import check_settings
from durable.conf import DEFAULTS, get_settings


def ids(messages):
    return [m.id for m in messages]


def test_the_default_settings_pass():
    assert check_settings() == []
    assert get_settings().WORKER_CONCURRENCY == DEFAULTS["WORKER_CONCURRENCY"]


@override_settings(DURABLE_WORKER_CONCURRENCY=0)
def test_a_worker_without_threads_is_an_error():
    [error] = check_settings()
    assert error.id == "durable.E001" and error.level == checks.ERROR
    assert "1 or more" in error.hint


@pytest.mark.parametrize("name", ["DURABLE_LEASE_SECONDS", "DURABLE_POLL_INTERVAL"])
def test_non_positive_intervals_are_errors(name):
    with override_settings(**{name: 0}):
        assert ids(check_settings()) == ["durable.E002"]


@override_settings(DURABLE_LEASE_SECONDS=2, DURABLE_POLL_INTERVAL=1)
def test_a_lease_shorter_than_three_polls_is_a_warning():
    [warning] = check_settings()
    assert warning.id == "durable.W001" and warning.level == checks.WARNING
    assert "Raise DURABLE_LEASE_SECONDS" in warning.hint


@override_settings(DURABLE_DATABASE="nowhere")
def test_an_unknown_database_alias_is_an_error():
    [error] = check_settings()
    assert error.id == "durable.E003" and "'nowhere'" in error.msg


def test_settings_are_read_at_call_time():
    with override_settings(DURABLE_POLL_INTERVAL=0.25):
        assert get_settings().POLL_INTERVAL == 0.25
    assert get_settings().POLL_INTERVAL == DEFAULTS["POLL_INTERVAL"]


def test_the_checks_are_registered_with_django():
    with override_settings(DURABLE_WORKER_CONCURRENCY=-1):
        assert "durable.E001" in ids(checks.run_checks())


def test_cockroachdb_with_notify_on_is_a_warning(monkeypatch):
    from django.db import connection

    # django-cockroachdb's connections say vendor "cockroachdb"; no server of it runs here.
    monkeypatch.setattr(connection, "vendor", "cockroachdb")
    with override_settings(DURABLE_USE_NOTIFY=True):
        [warning] = check_settings()
    assert warning.id == "durable.W003" and "DURABLE_USE_NOTIFY = False" in warning.hint
    with override_settings(DURABLE_USE_NOTIFY=False):
        assert check_settings() == []
