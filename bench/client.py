"""A starting client in a process of its own: ``python -m bench.client N`` prints ``ready``, waits
for a line on stdin, starts N 3-step workflows with ``durable.start`` and exits.
DATABASE_URL names the benchmark database."""

import os
import sys


def main(n: int) -> None:
    from .env import PRODUCTION_LIKE

    os.environ.update(PRODUCTION_LIKE)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")
    import django

    django.setup()
    import durable

    from .workflows import three_steps

    durable.start(three_steps)  # warm: the connection is open, the statement prepared
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(n - 1):
        durable.start(three_steps)


if __name__ == "__main__":
    main(int(sys.argv[1]))
