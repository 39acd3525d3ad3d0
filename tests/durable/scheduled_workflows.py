"""Scheduled sample workflows, imported only by the workers of the schedule tests (an imported
schedule fires in every worker of the process that imported it)."""

from datetime import datetime

import durable
from tests import workflows as w


@durable.scheduled("* * * * * *")  # every second
@durable.workflow()
def every_second(tick: datetime) -> str:
    return w.record(f"tick {tick.isoformat()}")


@durable.scheduled("* * * * * *", catch_up=False)
def every_second_no_catch_up(tick: datetime) -> str:
    return tick.isoformat()
