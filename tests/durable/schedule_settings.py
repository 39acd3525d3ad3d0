"""Settings for the worker subprocesses of the schedule tests: they import the scheduled samples."""

from inbox.settings import *  # noqa: F403

DURABLE_IMPORTS = ["tests.workflows", "tests.durable.run_workflows", "tests.durable.scheduled_workflows"]
