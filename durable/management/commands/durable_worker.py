from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand
from django.utils.module_loading import autodiscover_modules

from durable.conf import get_settings
from durable.worker import Worker


class Command(BaseCommand):
    help = "Run a durable worker: execute runnable workflow runs until SIGTERM."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--concurrency", type=int, help="Threads executing runs (DURABLE_WORKER_CONCURRENCY).")
        parser.add_argument("--queue", action="append", dest="queues", help="Only take runs from this queue.")
        parser.add_argument("--poll-interval", type=float, help="Seconds between polls (DURABLE_POLL_INTERVAL).")
        parser.add_argument("--lease", type=float, help="Lease seconds (DURABLE_LEASE_SECONDS).")

    def handle(self, *args: Any, **options: Any) -> None:
        autodiscover_modules("workflows")
        for module in get_settings().IMPORTS:
            __import__(module)
        Worker(
            concurrency=options["concurrency"],
            queues=options["queues"],
            poll_interval=options["poll_interval"],
            lease_seconds=options["lease"],
        ).run()
