"""Settings for worker subprocesses that must know the rate-limited queue before their first claim."""

from inbox.settings import *  # noqa: F403

DURABLE_IMPORTS = ["tests.workflows", "tests.durable.run_workflows"]
