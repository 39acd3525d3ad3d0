"""Sample workflows for workflow timeouts, queue rate limits, deduplication and versions (#15)."""

from datetime import timedelta

import durable
from tests import workflows as w


@durable.workflow(timeout=timedelta(seconds=1))
def parks_with_default_timeout(topic: str) -> object:
    return durable.recv(topic, timeout=None)


@durable.workflow()
def parent_of_parker(topic: str) -> object:
    child = durable.start(w.parks, topic)
    return child.result()


@durable.step()
def starts(label: str) -> str:
    w.ledger(f"start {label}")
    return label


@durable.workflow()
def rate_limited(label: str) -> str:
    return starts(label)


limited_rate = durable.Queue("tests-rate", limiter=(3, 2.0))
dedup = durable.Queue("tests-dedup")


@durable.workflow()
def waits_then_steps(topic: str) -> object:
    message = durable.recv(topic, timeout=None)
    return w.record(f"{topic}:{message}")
