"""``@durable.scheduled(cron)``: a workflow started once per tick of a cron schedule, however
many workers run. Each tick's run has an id made of the workflow's name and the tick's time, so
every worker may start it and the idempotent start keeps one. Cron is read by cronsim, in UTC."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cronsim import CronSim, CronSimError
from django.utils import timezone

from .registry import Workflow, workflow

_schedules: dict[str, "Schedule"] = {}

_TICK = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Schedule:
    workflow: Workflow[Any, Any]
    cron: str
    catch_up: bool

    @property
    def name(self) -> str:
        return self.workflow.name

    @property
    def prefix(self) -> str:
        return f"durable.scheduled:{self.name}:"

    def run_id(self, tick: datetime) -> str:
        return f"{self.prefix}{tick.astimezone(UTC).strftime(_TICK)}"

    def tick_of(self, run_id: str) -> datetime:
        return datetime.strptime(run_id.removeprefix(self.prefix), _TICK).replace(tzinfo=UTC)

    def ticks(self, after: datetime, until: datetime) -> Iterator[datetime]:
        """The ticks later than ``after`` and not later than ``until``."""
        for tick in CronSim(self.cron, after.astimezone(UTC)):
            if tick > until:
                return
            yield tick

    def next_tick(self, now: datetime | None = None) -> datetime:
        return next(CronSim(self.cron, (now or timezone.now()).astimezone(UTC)))


def scheduled(cron: str, *, catch_up: bool = True) -> Callable[[Any], Workflow[Any, Any]]:
    """Start the decorated workflow at each tick of ``cron`` (five fields, or six with seconds
    first; UTC), with the tick's time (an aware datetime) as its one argument. Ticks missed while
    no worker ran are started once each when one returns, unless ``catch_up=False`` skips them.
    Put it above ``@durable.workflow(...)``, or on a plain function to make it a workflow."""
    try:
        CronSim(cron, datetime.now(UTC))
    except CronSimError as exc:
        example = "'*/15 * * * *' (every 15 minutes)"
        raise ValueError(f"@durable.scheduled({cron!r}) is not a cron expression ({exc}); e.g. {example}.") from exc

    def decorate(fn: Any) -> Workflow[Any, Any]:
        wf = fn if isinstance(fn, Workflow) else workflow(fn)
        wf.check_importable()
        _schedules[wf.name] = Schedule(wf, cron, catch_up)
        return wf

    return decorate


def schedules() -> list[Schedule]:
    return sorted(_schedules.values(), key=lambda s: s.name)


class Scheduler:
    """One worker's firing of the schedules it imported: per schedule, the last tick it started."""

    def __init__(self) -> None:
        self.fired: dict[str, datetime] = {}

    def fire(self, now: datetime, batch: int = 1000) -> int:
        """Start the runs of every tick due by ``now`` (at most ``batch`` per schedule per call);
        how many ticks were started by this call (or found started by another worker)."""
        from .api import start

        count = 0
        for schedule in schedules():
            last = self.fired.get(schedule.name) or self._resume_from(schedule, now)
            for n, tick in enumerate(schedule.ticks(last, now)):
                if n == batch:
                    break  # the rest next time
                start(schedule.workflow, tick, workflow_id=schedule.run_id(tick))
                last, count = tick, count + 1
            self.fired[schedule.name] = last
        return count

    def _resume_from(self, schedule: Schedule, now: datetime) -> datetime:
        """Where this worker begins: after the newest tick ever started (catch-up), else now."""
        if not schedule.catch_up:
            return now
        from .api import list_workflows

        runs = list_workflows(name=schedule.name).filter(id__startswith=schedule.prefix)
        newest = runs.order_by("-id").values_list("id", flat=True).first()
        return schedule.tick_of(newest) if newest else now
