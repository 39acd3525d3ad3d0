from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from durable import versions
from durable.worker import Worker


class Command(BaseCommand):
    help = "Run a durable worker: execute runnable workflow runs until SIGTERM."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--concurrency", type=int, help="Threads executing runs (DURABLE_WORKER_CONCURRENCY).")
        parser.add_argument("--queue", action="append", dest="queues", help="Only take runs from this queue.")
        parser.add_argument("--poll-interval", type=float, help="Seconds between polls (DURABLE_POLL_INTERVAL).")
        parser.add_argument("--lease", type=float, help="Lease seconds (DURABLE_LEASE_SECONDS).")

    def handle(self, *args: Any, **options: Any) -> None:
        _check(options)
        versions.import_workflows()  # each app's workflows module and DURABLE_IMPORTS
        Worker(
            concurrency=options["concurrency"],
            queues=options["queues"],
            poll_interval=options["poll_interval"],
            lease_seconds=options["lease"],
        ).run()


def _check(options: dict[str, Any]) -> None:
    """Refuse options that would make a worker that cannot work, saying which and why."""
    if options["concurrency"] is not None and options["concurrency"] < 1:
        raise CommandError(f"--concurrency must be 1 or more (threads executing runs), not {options['concurrency']}.")
    for name in ("poll_interval", "lease"):
        value = options[name]
        if value is not None and not value > 0:
            flag = "--" + name.replace("_", "-")
            raise CommandError(f"{flag} must be a positive number of seconds, not {value}.")
    lease, poll = options["lease"], options["poll_interval"]
    if lease is not None and poll is not None and lease < 3 * poll:
        raise CommandError("--lease must be at least three --poll-interval: leases are renewed every third of one.")
    for queue in options["queues"] or []:
        if not queue.strip():
            raise CommandError("--queue needs a queue name.")
