"""Settings for worker subprocesses that must know the sample queues before their first claim.

A queue's limits live in Python (``durable.Queue`` at module level), so a worker only honours
them once the defining module is imported: ``DURABLE_IMPORTS`` does that at start-up.
"""

from inbox.settings import *  # noqa: F403

DURABLE_IMPORTS = ["tests.workflows"]
