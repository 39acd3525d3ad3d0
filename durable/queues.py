"""Named queues with a global and a per-worker concurrency limit."""

from typing import Any

_queues: dict[str, "Queue"] = {}

DEFAULT = "default"


class Queue:
    """A named queue. ``concurrency`` caps the runs in progress at once across all workers: a
    run holds its slot from its first claim to its end, parked in a recv, a sleep or a child's
    wait included (as in DBOS: ``concurrency=1`` is a lock around a wait), unless
    ``release_on_park`` frees it while the run waits. ``worker_concurrency`` caps the runs one
    worker process executes at once. ``limiter=(n, seconds)``: at most n runs of the queue start
    (are first claimed) in any window of that many seconds, across all workers. Lower
    ``priority`` runs first."""

    def __init__(
        self,
        name: str,
        concurrency: int | None = None,
        worker_concurrency: int | None = None,
        release_on_park: bool = False,
        limiter: tuple[int, float] | None = None,
    ) -> None:
        for label, value in (("concurrency", concurrency), ("worker_concurrency", worker_concurrency)):
            if value is not None and value < 1:
                raise ValueError(f"Queue {name!r}: {label} must be at least 1 or None (no limit), not {value}.")
        if name == DEFAULT and (concurrency is not None or limiter is not None):
            raise ValueError(
                f"Queue {DEFAULT!r} cannot have a concurrency or a limiter: it holds every run started without a "
                "queue, and its runs stay out of the indexes that count a limited queue's runs. Declare a queue of "
                "its own for the runs to limit, e.g. durable.Queue('emails', concurrency=5), and start them on it."
            )
        if limiter is not None and not (len(limiter) == 2 and limiter[0] >= 1 and limiter[1] > 0):
            raise ValueError(
                f"Queue {name!r}: limiter must be (starts, seconds) with at least 1 start in a positive number "
                f"of seconds, e.g. (50, 30), not {limiter!r}."
            )
        self.name = name
        self.concurrency = concurrency
        self.worker_concurrency = worker_concurrency
        self.release_on_park = release_on_park
        self.limiter = limiter
        _queues[name] = self

    def __repr__(self) -> str:
        return f"Queue({self.name!r}, concurrency={self.concurrency}, worker_concurrency={self.worker_concurrency})"

    @property
    def limited(self) -> bool:
        return self.concurrency is not None or self.worker_concurrency is not None or self.limiter is not None

    def enqueue(
        self,
        fn: Any,
        *args: Any,
        priority: int = 0,
        workflow_id: str | None = None,
        deduplication_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Start ``fn`` on this queue. ``deduplication_id``: refused with ``durable.QueueDeduplicated``
        while this queue has an unfinished run enqueued with the same one."""
        from .api import start

        return start(
            fn, *args, workflow_id=workflow_id, queue=self, priority=priority, deduplication_id=deduplication_id,
            **kwargs,
        )  # fmt: skip


def queue_name(queue: "Queue | str | None") -> str:
    if queue is None:
        return DEFAULT
    return queue.name if isinstance(queue, Queue) else queue


def limited_queues() -> list[Queue]:
    return [q for q in _queues.values() if q.limited]


def is_known(name: str) -> bool:
    return name == DEFAULT or name in _queues
