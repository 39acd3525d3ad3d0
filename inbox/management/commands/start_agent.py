from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inbox.agents import KINDS, start_agents


class Command(BaseCommand):
    help = "Start demo agents: refund, deploy or email. A worker runs them; they wait in the inbox."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("kind", choices=sorted(KINDS), help="Which demo agent.")
        parser.add_argument("--count", type=int, default=1, help="How many runs to start (default 1).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["count"] < 1:
            raise CommandError("--count must be 1 or more.")
        for handle in start_agents(options["kind"], options["count"]):
            self.stdout.write(f"started {options['kind']} agent run {handle.id}")
