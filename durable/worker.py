"""The worker: claims runnable runs, executes them on a thread pool, renews their leases."""

import logging
import os
import queue
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from types import FrameType
from typing import Any

from django.db import close_old_connections, connections, transaction
from django.db.models import Case, F, When
from django.utils import timezone

from . import pgsql
from .conf import get_settings
from .context import RunContext
from .exceptions import WorkflowImportError
from .execution import execute
from .models import Status, WorkflowRun
from .notify import Listener
from .queues import is_known, limited_queues
from .registry import resolve
from .replay import relaxed_commit

logger = logging.getLogger("durable.worker")

CLAIM_FIELDS = (
    "id",
    "name",
    "target",
    "inputs",
    "queue",
    "recovery_attempts",
    "max_recovery_attempts",
    "started_at",
    "forked_from",
    "parent_id",
)


class Worker:
    """Executes runs until ``stop()``; SIGTERM and SIGINT drain it: in-flight runs stop at
    their next durable operation and are handed back, then the worker exits."""

    def __init__(
        self,
        concurrency: int | None = None,
        queues: list[str] | None = None,
        poll_interval: float | None = None,
        lease_seconds: float | None = None,
    ) -> None:
        settings = get_settings()
        self.alias = settings.DATABASE
        self.concurrency = concurrency or settings.WORKER_CONCURRENCY
        self.queues = queues
        self.poll_interval = poll_interval if poll_interval is not None else settings.POLL_INTERVAL
        self.lease = timedelta(seconds=lease_seconds if lease_seconds is not None else settings.LEASE_SECONDS)
        self.use_notify = settings.notify_enabled
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.wake = threading.Event()  # a notification, a free thread, or stop
        self.freed = threading.Event()  # a free thread, or stop
        self.claiming = threading.Lock()
        self.stopping = threading.Event()
        self.inflight: dict[str, tuple[RunContext, str]] = {}
        self.lock = threading.Lock()
        self.next_deadline: Any = None

    # --- lifecycle ---------------------------------------------------------------

    def run(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        pool = Pool(self.concurrency)
        listener = Listener(self.alias, lambda: self._on_notify(pool)) if self.use_notify else None
        if listener:
            listener.start()
        renewer = threading.Thread(target=self._renew_loop, name="durable-lease", daemon=True)
        renewer.start()
        logger.info(
            "worker %s started: %d threads, %s",
            self.id,
            self.concurrency,
            "LISTEN/NOTIFY" if listener else f"polling every {self.poll_interval}s",
        )
        try:
            while not self.stopping.is_set():
                self._tick(pool)
        finally:
            with self.claiming:  # a claim under way submits its runs first; none starts after
                self._drain()
            pool.shutdown()
            if listener:
                listener.stop()
            connections.close_all()
        logger.info("worker %s stopped", self.id)

    def stop(self) -> None:
        self.stopping.set()
        self.freed.set()
        self.wake.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("worker %s received %s: finishing current steps", self.id, signal.Signals(signum).name)
        self.stop()

    def _drain(self) -> None:
        with self.lock:
            for ctx, _ in self.inflight.values():
                ctx.interrupt = "draining"

    # --- the loop ------------------------------------------------------------------

    def _tick(self, pool: "Pool") -> None:
        free = self.concurrency - len(self.inflight)
        if free <= 0:
            # Every thread is busy, and each claims its next run when it finishes one: until
            # one goes idle, notifications need no answer here.
            self.freed.wait(self._wait_seconds())
            self.freed.clear()
            return
        self.wake.clear()
        try:
            if self._claim_free(pool):
                return  # every free thread got a run: there may be more
        except Exception:
            logger.exception("claiming runs failed; retrying after the poll interval")
            close_old_connections()
        self.wake.wait(self._wait_seconds())

    def _on_notify(self, pool: "Pool") -> None:
        """A run became runnable. If a thread is free, claim from the listener's own thread at
        once: waking the loop to claim would cost a thread hand-off on every wake-up."""
        if self.stopping.is_set():
            return
        try:
            self._claim_free(pool)
        except Exception:
            logger.exception("claiming runs after a notification failed; the loop retries")
            close_old_connections()
            self.wake.set()

    def _claim_free(self, pool: "Pool") -> bool:
        """Claim runs for the free threads (the loop and the listener take turns); whether
        every free thread got one."""
        with self.claiming:
            if self.stopping.is_set():
                return False
            free = self.concurrency - len(self.inflight)
            return free > 0 and self._claim_and_submit(pool, free) == free

    def _wait_seconds(self) -> float:
        wait = self.poll_interval
        if self.next_deadline is not None:
            wait = min(wait, max(0.0, (self.next_deadline - timezone.now()).total_seconds()))
            self.next_deadline = None
        return wait

    def _claim_and_submit(self, pool: "Pool", free: int) -> int:
        runs = self.claim(free)
        for run in runs:
            pool.submit(self._execute_chain, run, self._track(run))
        return len(runs)

    def _track(self, run: WorkflowRun, replacing: str | None = None) -> RunContext:
        ctx = RunContext(run_id=run.id, owner=self.id, checkpoints={})
        with self.lock:
            if self.stopping.is_set():
                ctx.interrupt = "draining"  # claimed as the worker began to stop: hand it back
            self.inflight.pop(replacing, None)  # type: ignore[arg-type]
            self.inflight[run.id] = (ctx, run.queue)
        return ctx

    def _execute_chain(self, run: WorkflowRun, ctx: RunContext) -> None:
        """Execute ``run``, then, while there is work, the next run from this thread: leased in
        the same statement that records the run's end where it can be, else claimed then. Busy
        threads feed themselves in parallel instead of queueing behind the loop, which only
        fills idle threads."""
        while True:
            ctx.then = self._claim_with_end()
            self._execute(run, ctx)
            following = self._following(run.id, ctx.then)
            if following is None:
                with self.lock:
                    self.inflight.pop(run.id, None)
                self.freed.set()  # a thread is free: look for more work
                self.wake.set()
                return
            run, ctx = following, self._track(following, replacing=run.id)

    def _claim_with_end(self) -> "pgsql.Claim | None":
        """What to lease with the run's end: the next run for this thread, unless queue limits
        need the loop's claim (which counts and locks) or the database is not PostgreSQL."""
        if self.stopping.is_set() or not pgsql.enabled(self.alias) or limited_queues():
            return None
        return pgsql.Claim(self.id, self.lease, 1, queues=self.queues)

    def _following(self, finished: str, then: "pgsql.Claim | None") -> WorkflowRun | None:
        """The run this thread executes next, if any. The thread still counts ``finished`` as
        its own meanwhile, so the loop cannot hand its place to another run."""
        if then is not None and then.runs is not None:
            runs = self._learn_queues(then.runs)
        elif self.stopping.is_set():
            return None
        else:
            _reuse_connection(self.alias)
            try:
                runs = self.claim(1)
            except Exception:
                logger.exception("claiming runs failed; the loop retries after the poll interval")
                close_old_connections()
                return None
        return runs[0] if runs else None

    def _execute(self, run: WorkflowRun, ctx: RunContext) -> str:
        _reuse_connection(self.alias)
        try:
            outcome = execute(run, ctx)
            if outcome == "parked" and ctx.parked_until is not None:
                self.note_deadline(ctx.parked_until)
            return outcome
        except Exception:
            logger.exception("workflow run %s crashed the executor; it will be recovered after its lease", run.id)
            return "crashed"
        finally:
            close_old_connections()
            _local.finished = time.monotonic()

    # --- claiming --------------------------------------------------------------------

    def claim(self, limit: int) -> list[WorkflowRun]:
        """Claim up to ``limit`` runnable runs for this worker, honouring queue limits."""
        limited = {q.name: q for q in limited_queues() if self.queues is None or q.name in self.queues}
        runs = self._claim(limit, exclude=list(limited))
        for q in limited.values():
            if len(runs) >= limit:
                break
            runs += self._claim_queue(q, limit - len(runs))
        return self._learn_queues(runs)

    def _learn_queues(self, runs: list[WorkflowRun]) -> list[WorkflowRun]:
        """A run in a queue this process has not seen may have limits defined beside its
        workflow: import that module, and if the queue turns out limited, hand the run back
        so the next claim honours the limit."""
        unknown = [r for r in runs if not is_known(r.queue)]
        if not unknown:
            return runs
        for run in unknown:
            try:
                resolve(run.name, run.target)
            except WorkflowImportError:
                pass  # execute() records the error on the run
        back = [r.id for r in unknown if any(q.name == r.queue for q in limited_queues())]
        if back:
            WorkflowRun.objects.using(self.alias).filter(id__in=back, lease_owner=self.id).update(
                status=Status.ENQUEUED, lease_owner="", ready_at=timezone.now()
            )
            self.wake.set()
        return [r for r in runs if r.id not in back]

    def _claim_queue(self, q: Any, limit: int) -> list[WorkflowRun]:
        if q.worker_concurrency is not None:
            with self.lock:
                mine = sum(1 for _, name in self.inflight.values() if name == q.name)
            limit = min(limit, q.worker_concurrency - mine)
        if limit <= 0:
            return []
        return self._claim(limit, only=q.name, global_cap=q.concurrency)

    def _claim(
        self, limit: int, exclude: list[str] | None = None, only: str | None = None, global_cap: int | None = None
    ) -> list[WorkflowRun]:
        now = timezone.now()
        runs_qs = WorkflowRun.objects.using(self.alias)
        if global_cap is None and pgsql.enabled(self.alias):
            runs = pgsql.claim(self.alias, pgsql.Claim(self.id, self.lease, limit, only, self.queues, exclude))
            self._log_recoveries(runs)
            return runs

        def pick(qs: Any, n: int) -> list[WorkflowRun]:
            if only is not None:
                qs = qs.filter(queue=only)
            elif self.queues is not None:
                qs = qs.filter(queue__in=self.queues)
            if exclude:
                qs = qs.exclude(queue__in=exclude)
            return list(qs.select_for_update(skip_locked=True).only(*CLAIM_FIELDS, "status")[:n])

        with transaction.atomic(using=self.alias):
            if global_cap is not None:
                self._lock_queue(only or "")
                running = runs_qs.filter(queue=only, status=Status.RUNNING, ready_at__gt=now).count()
                limit = min(limit, global_cap - running)
                if limit <= 0:
                    return []
            # Runs coming back from a wait or a dead worker first, then new ones by priority.
            runs = pick(runs_qs.due(now), limit)
            if len(runs) < limit:
                runs += pick(runs_qs.enqueued(now), limit - len(runs))
            if not runs:
                return []
            relaxed_commit()
            ids = [r.id for r in runs]
            runs_qs.filter(id__in=ids).update(
                status=Status.RUNNING,
                lease_owner=self.id,
                ready_at=now + self.lease,
                wait_topic=None,
                wait_until=None,
                started_at=Case(When(started_at__isnull=True, then=now), default=F("started_at")),
                recovery_attempts=Case(
                    When(status=Status.RUNNING, then=F("recovery_attempts") + 1), default=F("recovery_attempts")
                ),
            )
        for r in runs:
            if r.status == Status.RUNNING:
                r.recovery_attempts += 1
        self._log_recoveries(runs)
        return runs

    def _log_recoveries(self, runs: list[WorkflowRun]) -> None:
        for r in runs:
            if r.status == Status.RUNNING:
                logger.info("recovering workflow run %s from a dead worker", r.id)

    def _lock_queue(self, name: str) -> None:
        """Serialize claims on a queue with a global limit across workers (SQLite is serial anyway)."""
        conn = connections[self.alias]
        if conn.vendor == "postgresql":
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"durable.queue:{name}"])

    # --- leases -----------------------------------------------------------------------

    def _renew_loop(self) -> None:
        period = self.lease.total_seconds() / 3
        while not self.stopping.wait(period) or self.inflight:
            try:
                self.renew()
            except Exception:
                logger.exception("renewing leases failed")
                close_old_connections()
            if self.stopping.is_set():
                self.stopping.wait(min(period, 1.0))
        connections.close_all()

    def renew(self) -> None:
        """Extend the lease on every run this worker executes; interrupt those it lost."""
        with self.lock:
            ids = list(self.inflight)
        if not ids:
            return
        runs = WorkflowRun.objects.using(self.alias).filter(id__in=ids).held_by(self.id)
        runs.update(ready_at=timezone.now() + self.lease)
        held = set(runs.values_list("id", flat=True))
        with self.lock:
            for run_id, (ctx, _) in self.inflight.items():
                if run_id in ids and run_id not in held:
                    ctx.interrupt = ctx.interrupt or "lease lost or run cancelled"

    def note_deadline(self, when: Any) -> None:
        if self.next_deadline is None or when < self.next_deadline:
            self.next_deadline = when


_local = threading.local()


def _reuse_connection(alias: str, idle: float = 1.0) -> None:
    """Skip Django's health check (a ``SELECT 1`` round trip before the first query) on a
    connection this thread finished a run on less than ``idle`` seconds ago: on a busy worker
    it would cost each run as much as a step. A connection that failed was closed then."""
    conn = connections[alias]
    if conn.connection is not None and time.monotonic() - getattr(_local, "finished", -idle) < idle:
        conn.health_check_done = True  # type: ignore[attr-defined]


class Pool:
    """Threads that execute runs. Unlike ThreadPoolExecutor, each thread closes its own
    database connection when the pool shuts down, so a stopped worker leaves none open."""

    def __init__(self, size: int) -> None:
        self.tasks: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._loop, name=f"durable-run-{i}", daemon=True) for i in range(size)]
        for thread in self.threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self.tasks.put((fn, args))

    def shutdown(self) -> None:
        for _ in self.threads:
            self.tasks.put(None)
        for thread in self.threads:
            thread.join()

    def _loop(self) -> None:
        try:
            while (task := self.tasks.get()) is not None:
                fn, args = task
                fn(*args)
        finally:
            connections.close_all()
