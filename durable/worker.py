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
from dataclasses import replace
from datetime import timedelta
from types import FrameType
from typing import Any

from django.db import close_old_connections, connections
from django.utils import timezone

from . import faults, prepared, store, versions
from .conf import get_settings
from .context import RunContext
from .exceptions import WorkflowImportError
from .execution import Outcome, execute
from .notify import Listener
from .queues import is_known, limited_queues
from .records import ClaimedRun, ClaimRequest
from .registry import resolve
from .schedules import Scheduler

logger = logging.getLogger("durable.worker")


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
        prepared.plan_generically(self.alias)
        self.concurrency = concurrency if concurrency is not None else settings.WORKER_CONCURRENCY
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
        self.version = versions.current()
        self.draining = False  # a newer version appeared: finish this version's runs, start none
        self.takeover_due = 0.0  # when a run's end or park next looks for runs whose lease ran out
        self.limited_due = 0.0  # when a run's end next leaves the next claim to the limited queues first

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
        timers = threading.Thread(target=self._timers_loop, name="durable-timers", daemon=True)
        timers.start()
        logger.info(
            "worker %s started: %d threads, %s, version %s",
            self.id,
            self.concurrency,
            listener.describe(self.poll_interval) if listener else f"polling every {self.poll_interval}s",
            self.version,
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
        self._drain()  # at once: a step in flight that ends now must not be followed by the next
        self.freed.set()
        self.wake.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop()
        logger.info("worker %s received %s: finishing current steps", self.id, signal.Signals(signum).name)

    def _drain(self) -> None:
        """Mark the runs in flight to stop at their next durable operation and be handed back.
        Without ``self.lock``: the signal handler calls this on the main thread, which may hold
        it; copying the dict is one step under the GIL."""
        for ctx, _ in list(self.inflight.values()):
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
            if self._claim_free(pool, look_first=True):
                return  # every free thread got a run: there may be more
        except Exception as exc:
            _log_failure("claiming runs", exc)
            faults.reset(self.alias)
        self.wake.wait(self._wait_seconds())

    def _on_notify(self, pool: "Pool") -> None:
        """A run became runnable. If a thread is free, claim from the listener's own thread at
        once: waking the loop to claim would cost a thread hand-off on every wake-up."""
        if self.stopping.is_set():
            return
        try:
            self._claim_free(pool)
        except Exception as exc:
            _log_failure("claiming runs after a notification", exc)
            faults.reset(self.alias)
            self.wake.set()

    def _claim_free(self, pool: "Pool", look_first: bool = False) -> bool:
        """Claim runs for the free threads (the loop and the listener take turns); whether
        every free thread got one."""
        with self.claiming:
            if self.stopping.is_set():
                return False
            free = self.concurrency - len(self.inflight)
            return free > 0 and self._claim_and_submit(pool, free, look_first) == free

    def _wait_seconds(self) -> float:
        wait = self.poll_interval
        if self.next_deadline is not None:
            wait = min(wait, max(0.0, (self.next_deadline - timezone.now()).total_seconds()))
            self.next_deadline = None
        return wait

    def _claim_and_submit(self, pool: "Pool", free: int, look_first: bool) -> int:
        runs = self.claim(free, look_first)
        for run in runs:
            pool.submit(self._execute_chain, run, self._track(run))
        return len(runs)

    def _track(self, run: ClaimedRun, replacing: str | None = None) -> RunContext:
        ctx = RunContext(run_id=run.id, owner=self.id, checkpoints={}, forked_from=run.forked_from)
        with self.lock:
            if self.stopping.is_set():
                ctx.interrupt = "draining"  # claimed as the worker began to stop: hand it back
            if replacing is not None:
                self.inflight.pop(replacing, None)
            self.inflight[run.id] = (ctx, run.queue)
        return ctx

    def _execute_chain(self, run: ClaimedRun, ctx: RunContext) -> None:
        """Execute ``run``, then, while there is work, the next run from this thread: leased in
        the same statement that records the run's end where it can be, else claimed then. Busy
        threads feed themselves in parallel instead of queueing behind the loop, which only
        fills idle threads."""
        while True:
            ctx.then = self._claim_with_end()
            outcome = self._execute(run, ctx)
            following = self._following(outcome)
            if following is None:
                with self.lock:
                    self.inflight.pop(run.id, None)
                self.freed.set()  # a thread is free: look for more work
                self.wake.set()
                return
            run, ctx = following, self._track(following, replacing=run.id)

    def _claim_with_end(self) -> ClaimRequest | None:
        """What to lease with the run's end: the next run for this thread, from the queues
        without limits (a limited queue's claim counts its slots under a lock, ``claim``).
        Where this worker serves limited queues, once a poll interval a thread leases nothing
        with its end and its next claim serves the limited queues first, so a backlog on the
        others never starves them. It looks for a dead worker's runs once a poll interval
        across the threads, and at once again while looks find some (``_taking_over``; the
        loop's claims always look): a look reads a dead index entry for every run that parked
        or ended since the last vacuum (``ClaimRequest.takeover``). None where the database
        cannot lease with an end."""
        if self.stopping.is_set() or not store.leases_with_end():
            return None
        now = time.monotonic()  # threads racing on the times below at worst both do it
        limited = self._limited()
        if limited and now >= self.limited_due:
            self.limited_due = now + self.poll_interval
            return None
        takeover = now >= self.takeover_due
        if takeover:
            self.takeover_due = now + self.poll_interval
        return self._request(1, queues=self._queues(), exclude=tuple(limited), takeover=takeover)

    def _limited(self) -> dict[str, Any]:
        """The limited queues this worker serves, by name."""
        return {q.name: q for q in limited_queues() if self.queues is None or q.name in self.queues}

    def _request(self, limit: int, **options: Any) -> ClaimRequest:
        return ClaimRequest(self.id, self.lease, limit, version=self.version, started_only=self.draining, **options)

    def _queues(self) -> tuple[str, ...] | None:
        return None if self.queues is None else tuple(self.queues)

    def _following(self, outcome: Outcome) -> ClaimedRun | None:
        """The run this thread executes next, if any. The thread still counts the run it
        finished as its own meanwhile, so the loop cannot hand its place to another run.
        When the run's end looked for one and found none, the thread does not look again at
        once: it frees itself, and the loop claims for free threads."""
        if outcome.leased:
            runs = self._learn_queues(self._not_ours_already(self._taking_over(list(outcome.leased))))
        elif self.stopping.is_set() or outcome.looked:
            return None
        else:
            _reuse_connection(self.alias)
            try:
                runs = self.claim(1, look_first=True, limited_first=True)
            except Exception as exc:
                _log_failure("claiming runs", exc)
                faults.reset(self.alias)
                return None
        return runs[0] if runs else None

    def _execute(self, run: ClaimedRun, ctx: RunContext) -> Outcome:
        """Execute ``run``; when the database fails under it, replay it from the database's
        history as soon as the database answers again, keeping its lease meanwhile."""
        attempt = 0
        while True:
            outcome = self._execute_once(run, ctx)
            if outcome.kind != "fault":
                return outcome
            logger.warning("workflow run %s: the database failed under it (%s); replaying it", run.id, outcome.fault)
            faults.reset(self.alias)
            faults.backoff(attempt, cap=2.0, base=0.05)
            attempt += 1
            if self.stopping.is_set():
                return outcome  # its lease runs out and another worker takes it
            pending, ctx.then = ctx.pending, None
            ctx = RunContext(run_id=run.id, owner=self.id, checkpoints={}, forked_from=run.forked_from)
            ctx.pending, ctx.confirmed_at = pending, 0.0  # nothing has confirmed the lease since the fault
            with self.lock:
                if run.id in self.inflight:
                    self.inflight[run.id] = (ctx, run.queue)
            run = replace(run, history=None, started_at=run.started_at or timezone.now())

    def _execute_once(self, run: ClaimedRun, ctx: RunContext) -> Outcome:
        _reuse_connection(self.alias)
        try:
            outcome = execute(run, ctx)
            if outcome.kind == "parked" and ctx.parked_until is not None:
                self.note_deadline(ctx.parked_until)
            return outcome
        except Exception:
            logger.exception("workflow run %s crashed the executor; it will be recovered after its lease", run.id)
            return Outcome("crashed")
        finally:
            close_old_connections()
            _local.finished = time.monotonic()

    # --- claiming --------------------------------------------------------------------

    def claim(self, limit: int, look_first: bool = False, limited_first: bool = False) -> list[ClaimedRun]:
        """Claim up to ``limit`` runnable runs for this worker, honouring queue limits
        (``look_first``: see ``ClaimRequest``). The other queues' runs come first, then the
        limited queues' within their limits; ``limited_first`` turns that round (a busy
        thread's turn to serve them, ``_claim_with_end``)."""
        limited = self._limited()

        def others(n: int) -> list[ClaimedRun]:
            request = self._request(n, queues=self._queues(), exclude=tuple(limited), look_first=look_first)
            return self._taking_over(list(faults.retry_rolled_back(self.alias, lambda: store.claim(request))))

        runs = [] if limited_first else others(limit)
        for q in limited.values():
            if len(runs) >= limit:
                break
            runs += self._claim_queue(q, limit - len(runs))
        if limited_first and len(runs) < limit:
            runs += others(limit - len(runs))
        runs = self._not_ours_already(runs)
        for r in runs:
            if r.recovered:
                logger.info("recovering workflow run %s from a dead worker", r.id)
        return self._learn_queues(runs)

    def _taking_over(self, runs: list[ClaimedRun]) -> list[ClaimedRun]:
        """While claims find a dead worker's runs, the threads' next leases look for more at once,
        so that they take them over in a chain, as they would take enqueued runs."""
        if any(r.recovered for r in runs):
            self.takeover_due = 0.0
        return runs

    def _not_ours_already(self, runs: list[ClaimedRun]) -> list[ClaimedRun]:
        """A run of ours whose renewal came late (a busy SQLite write lock, a starved thread) looks
        abandoned to any claim, this worker's too (the loop's, or one leased with a run's end or
        park); the claim has just renewed its lease, and the thread running it goes on."""
        with self.lock:
            mine = {r.id for r in runs if r.recovered and r.id in self.inflight}
        return [r for r in runs if r.id not in mine]

    def _learn_queues(self, runs: list[ClaimedRun]) -> list[ClaimedRun]:
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
        back = [r for r in unknown if any(q.name == r.queue for q in limited_queues())]
        if back:
            store.release([r.id for r in back if r.started_at is None], self.id, unstarted=True)
            store.release([r.id for r in back if r.started_at is not None], self.id)
            self.wake.set()
        return [r for r in runs if r not in back]

    def _claim_queue(self, q: Any, limit: int) -> list[ClaimedRun]:
        if q.worker_concurrency is not None:
            with self.lock:
                mine = sum(1 for _, name in self.inflight.values() if name == q.name)
            limit = min(limit, q.worker_concurrency - mine)
        if limit <= 0:
            return []
        request = self._request(limit, only=q.name)
        claimed = faults.retry_rolled_back(
            self.alias,
            lambda: store.claim_limited(request, q.concurrency, not q.release_on_park, q.limiter),
        )
        return list(claimed)

    # --- timers: workflow timeouts, schedules, versions -----------------------------------

    def _timers_loop(self) -> None:
        """Every poll interval (a quarter second at least): cancel runs whose workflow timeout
        passed, start the runs of due schedule ticks, and drain once a newer version appears.
        A thread of its own, so that busy run threads or a wake-up never wait for it."""
        scheduler = Scheduler()
        first_seen = None
        while not self.stopping.is_set():
            try:
                if first_seen is None:
                    first_seen = versions.register(self.version)
                for run_id in store.expire_timeouts(timezone.now()):
                    logger.info("workflow run %s cancelled: its workflow timeout passed", run_id)
                if not self.draining:
                    scheduler.fire(timezone.now())
                self._check_version(first_seen)
            except Exception as exc:
                _log_failure("timeouts, schedules and versions", exc)
                faults.reset(self.alias)
            self.stopping.wait(max(self.poll_interval, 0.25))  # a fast poll need not mean fast timers
        connections.close_all()

    def _check_version(self, first_seen: Any) -> None:
        if not self.draining:
            newer = versions.newer_than(self.version, first_seen)
            if newer is None:
                return
            logger.info("worker %s: version %s appeared; finishing version %s's runs, then exiting",
                        self.id, newer, self.version)  # fmt: skip
            self.draining = True
        if not versions.has_unfinished(self.version):
            logger.info("worker %s: no run of version %s is left unfinished; exiting", self.id, self.version)
            self.stop()

    # --- leases -----------------------------------------------------------------------

    def _renew_loop(self) -> None:
        period = self.lease.total_seconds() / 3
        while not self.stopping.wait(period) or self.inflight:
            try:
                self.renew()
            except Exception as exc:
                _log_failure("renewing leases", exc)
                faults.reset(self.alias)
            if self.stopping.is_set():
                self.stopping.wait(min(period, 1.0))
        connections.close_all()

    def renew(self) -> None:
        """Extend the lease on every run this worker executes; interrupt those it lost."""
        with self.lock:
            ids = list(self.inflight)
        if not ids:
            return
        held = store.renew(ids, self.id, timezone.now() + self.lease)
        with self.lock:
            for run_id, (ctx, _) in self.inflight.items():
                if run_id in ids and run_id not in held:
                    ctx.interrupt = ctx.interrupt or "lease lost or run cancelled"

    def note_deadline(self, when: Any) -> None:
        if self.next_deadline is None or when < self.next_deadline:
            self.next_deadline = when


_local = threading.local()


def _log_failure(what: str, exc: Exception) -> None:
    """A database that is away is logged as a warning, once per failure; anything else with its traceback."""
    if faults.is_transient(exc):
        logger.warning("%s failed, the database is unavailable (%s: %s); retrying", what, type(exc).__name__, exc)
    else:
        logger.exception("%s failed; retrying after the poll interval", what)


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
