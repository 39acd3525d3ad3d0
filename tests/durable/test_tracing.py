"""OpenTelemetry spans (issue #15): a span per execution of a run and per durable operation, seen
through the SDK's in-memory exporter in the process of an in-process worker (spans live there)."""

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import durable
from tests.agents import async_workflows as aw
from tests.durable import stream_workflows as s
from tests.durable.conftest import wait_for, wait_status

pytestmark = pytest.mark.django_db(transaction=True)

_exporter = InMemorySpanExporter()


@pytest.fixture
def spans():
    """The global tracer provider (set once per process, as an application would) with an in-memory exporter."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        trace.set_tracer_provider(provider)
    _exporter.clear()
    yield _exporter
    _exporter.clear()


def named(exporter, prefix):
    return [span for span in exporter.get_finished_spans() if span.name.startswith(prefix)]


def test_a_run_and_its_operations_are_spans(spans, worker, ledger):
    handle = durable.start(s.many_kinds, "traced")
    wait_status(handle, "WAITING")
    durable.send(handle.id, "hi", topic="go")
    assert handle.result(timeout=20) == ["traced done", "hi"]
    wait_for(lambda: len(named(spans, "durable.run ")) == 2, what="both executions' spans")
    parked, finished = sorted(named(spans, "durable.run "), key=lambda span: span.start_time)
    assert parked.name == "durable.run tests.durable.stream_workflows.many_kinds"
    assert parked.attributes["durable.run.id"] == handle.id
    assert parked.attributes["durable.workflow.name"] == "tests.durable.stream_workflows.many_kinds"
    assert (parked.attributes["durable.outcome"], finished.attributes["durable.outcome"]) == ("parked", "succeeded")

    [step] = named(spans, "durable.step fails_once")  # the replay returned its checkpoint: no second span
    assert step.parent.span_id == parked.context.span_id
    assert step.attributes["durable.operation.seq"] == 0
    assert (step.attributes["durable.step.attempts"], step.attributes["durable.outcome"]) == (2, "succeeded")
    [retry] = step.events
    assert retry.attributes["exception.type"] == "ValueError"
    assert retry.attributes["durable.step.attempt"] == 1

    [failing] = named(spans, "durable.step always_fails")
    assert failing.parent.span_id == finished.context.span_id
    assert failing.status.status_code == StatusCode.ERROR
    assert failing.attributes["durable.outcome"] == "failed"

    [event] = named(spans, "durable.set_event")
    assert event.attributes["durable.operation.name"] == "progress"
    assert event.attributes["durable.outcome"] == "succeeded"
    waits = named(spans, "durable.recv")
    assert [span.attributes["durable.outcome"] for span in waits] == ["pending", "succeeded"]
    assert waits[1].parent.span_id == finished.context.span_id


def test_a_failed_run_is_an_error_span(spans, worker):
    handle = durable.start(s.fails_at_once)
    wait_status(handle, "ERROR")
    [run] = wait_for(lambda: named(spans, "durable.run "), what="the run's span")
    assert run.status.status_code == StatusCode.ERROR
    assert run.status.description == "RuntimeError: no luck"
    assert run.attributes["durable.outcome"] == "failed"
    assert run.events[0].attributes["exception.message"] == "no luck"


def test_an_async_steps_attempts_are_one_span(spans, worker, ledger):
    handle = durable.start(aw.async_retries, "traced")
    assert handle.result(timeout=20) == "ok"
    [step] = wait_for(lambda: named(spans, "durable.step flaky_async"), what="the async step's span")
    [run] = wait_for(lambda: named(spans, "durable.run "), what="the run's span")
    assert step.parent.span_id == run.context.span_id
    assert (step.attributes["durable.step.attempts"], step.attributes["durable.outcome"]) == (3, "succeeded")
    assert [event.attributes["durable.step.attempt"] for event in step.events] == [1, 2]
