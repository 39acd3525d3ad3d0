"""What durable.tracing costs while no OpenTelemetry SDK is configured (not part of the harness).

Run from the project root: .venv/bin/python -m bench.tracing_overhead
"""

import os
import time
from collections.abc import Callable

import django

N = 5000  # calls per timing; the best of five timings is shown


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")
    os.environ["DATABASE_URL"] = "sqlite:///:memory:"
    django.setup()
    from django.utils import timezone

    from durable import tracing
    from durable.models import Checkpoint
    from durable.records import ClaimedRun

    now = timezone.now()
    cp = Checkpoint(run_id="r", seq=1, kind="send", name="t", output="null", started_at=now, finished_at=now)
    run = ClaimedRun(id="r", name="wf", target="m.wf", inputs="", queue="default", status="ENQUEUED",
                     recovery_attempts=0, max_recovery_attempts=50, started_at=None, forked_from="",
                     parent_id=None)  # fmt: skip

    def step_span() -> None:
        with tracing.step("r", "s", 1) as span:
            tracing.step_ended(span, None, 1)

    def run_span() -> None:
        with tracing.run(run) as span:
            tracing.run_ended(span, "succeeded")

    timed("a step's span", step_span)
    timed("a run's span", run_span)
    timed("another operation's span", lambda: tracing.operation("r", cp))
    timed("an empty call, for scale", lambda: None)
    from opentelemetry import trace

    tracer = trace.get_tracer("bench")

    def api_span() -> None:
        with tracer.start_as_current_span("s"):
            pass

    timed("the API's own no-op span entered as current (what a step paid before the check)", api_span)


def timed(label: str, fn: Callable[[], None]) -> None:
    best = min(_once(fn) for _ in range(5))
    print(f"{label}: {best / N * 1e6:.2f} us each ({N} calls, best of 5)")


def _once(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    for _ in range(N):
        fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
