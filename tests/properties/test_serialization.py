"""Property-based: whatever callers pass the engine comes back exactly, or fails where it is produced.

Arguments, step results, messages and events all go through ``durable.serialization``; data an
LLM or a reviewer produced may hold keys that look like jsonpickle's own tags (``py/object``),
and must come back as that same data, never as an object or with keys missing.
"""

import jsonpickle
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import durable
from durable import serialization
from durable.models import Checkpoint, Status, WorkflowRun

from . import workflows as wf
from .strategies import UNSTORABLE, embed, json_values, typed, unstorable_kinds, values


@given(values)
@example({"py/object": "os.system", "k": 1})
@example({"py/b64": "aGk="})
@example({"py/reduce": [{"py/function": "os.system"}, {"py/tuple": ["echo pwned"]}]})
@example([{"py/id": 1}, {"py/ref": "x"}])
def test_values_round_trip_exactly(value):
    text = serialization.dumps(value, "the value")
    assert typed(serialization.loads(text)) == typed(value)


@given(json_values)
def test_tag_looking_json_from_a_reviewer_stays_data(value):
    back = serialization.loads(serialization.dumps(value, "the message"))
    assert typed(back) == typed(value)


@given(json_values)
def test_plain_json_reads_back_as_jsonpickle_would_have_written_it(value):
    # Plain JSON skips jsonpickle on the way in; on the way out it must be the same value,
    # key order included, as the full encoding would give.
    slow = jsonpickle.encode(value, context=serialization._StrictPickler())
    assert typed(serialization.loads(serialization.dumps(value))) == typed(serialization.loads(slow))


@given(st.lists(json_values, max_size=3), st.dictionaries(st.text(), json_values, max_size=3))
def test_arguments_read_back_as_a_tuple_of_args_and_kwargs(args, kwargs):
    back = serialization.loads(serialization.dumps_call(args, kwargs, "The arguments"))
    assert typed(back) == typed((args, kwargs))


@given(values)
@example({"json://1": "a string key that looks like jsonpickle's non-string key"})
def test_reading_plain_json_directly_gives_what_jsonpickle_gives(value):
    text = serialization.dumps(value)
    assert typed(serialization.loads(text)) == typed(jsonpickle.decode(text, keys=True))


class Tagged(dict):
    """A dict subclass: not plain JSON, so it keeps its type through jsonpickle."""


def test_a_subclass_of_plain_data_keeps_its_type():
    back = serialization.loads(serialization.dumps({"x": [Tagged(a=1)]}))
    assert type(back["x"][0]) is Tagged and back["x"][0] == {"a": 1}


class Exploding:
    """Instantiating this from stored text would be the jsonpickle attack."""

    def __init__(self, *args, **kwargs):
        raise AssertionError("instantiated from data")

    def __setstate__(self, state):
        raise AssertionError("instantiated from data")


@given(st.sampled_from(["py/object", "py/type", "py/newobj", "py/reduce"]))
def test_data_naming_a_class_never_instantiates_it(tag):
    crafted = {tag: f"{Exploding.__module__}.Exploding", "py/state": {"x": 1}}
    back = serialization.loads(serialization.dumps({"args": crafted}, "the message"))
    assert back == {"args": crafted}


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(unstorable_kinds(), st.data())
def test_live_process_state_fails_at_dumps_with_the_cause(kind, data):
    bad = UNSTORABLE[kind]()
    value = data.draw(embed(bad))
    try:
        with pytest.raises(durable.SerializationError) as info:
            serialization.dumps(value, "The arguments of my.agent")
        message = str(info.value)
        assert message.startswith("The arguments of my.agent")
        assert type(bad).__name__ in message, f"the error does not name the {kind}: {message}"
        if kind == "generator":
            assert next(bad) == 1, "encoding consumed the caller's generator"
    finally:
        if hasattr(bad, "close"):
            bad.close()


# --- the same promises through the engine: a real worker, real rows -------------------------

pytestmark = pytest.mark.django_db(transaction=True)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values)
@example({"py/object": "builtins.dict", "nested": [{"py/b64": "aGk="}]})
def test_argument_step_event_and_messages_round_trip_through_a_worker(worker, value):
    handle = durable.start(wf.round_trip, value)
    durable.send(handle.id, value, topic="outside")
    results = handle.result(timeout=30)
    assert [typed(r) for r in results] == [typed(value)] * 4
    assert typed(durable.get_event(handle.id, "value")) == typed(value)


@pytest.mark.parametrize("kind", sorted(UNSTORABLE))
def test_start_refuses_unstorable_arguments_and_stores_nothing(kind):
    bad = UNSTORABLE[kind]()
    try:
        with pytest.raises(durable.SerializationError, match=r"arguments of tests.properties.workflows.round_trip"):
            durable.start(wf.round_trip, {"tool": "search", "handle": bad})
    finally:
        if hasattr(bad, "close"):
            bad.close()
    assert not WorkflowRun.objects.exists()


def test_send_refuses_an_unstorable_message_from_outside(worker):
    handle = durable.start(wf.round_trip, 1)
    with pytest.raises(durable.SerializationError, match=r"message"):
        durable.send(handle.id, {"reply": lambda: "yes"}, topic="outside")
    durable.cancel(handle.id)


def test_an_unstorable_step_result_fails_the_run_at_that_step_once(worker):
    wf.STEP_CALLS.clear()
    handle = durable.start(wf.returns_lock_from_step)
    with pytest.raises(durable.SerializationError, match=r"return value of step make_lock.*lock"):
        handle.result(timeout=30)
    run = WorkflowRun.objects.get(id=handle.id)
    assert run.status == Status.ERROR and run.recovery_attempts == 0
    assert wf.STEP_CALLS == ["make_lock"], "the failure must happen at the step, not on a later replay"
    assert not Checkpoint.objects.filter(run_id=handle.id).exists()


@pytest.mark.parametrize(
    ("workflow", "cause"),
    [(wf.publishes_lambda, r"event 'callback'.*function"), (wf.sends_generator, r"message.*generator")],
)
def test_unstorable_events_and_sends_fail_the_run_where_they_happen(worker, workflow, cause):
    target = durable.start(wf.round_trip, 0)
    handle = durable.start(workflow, target.id) if workflow is wf.sends_generator else durable.start(workflow)
    with pytest.raises(durable.SerializationError, match=cause):
        handle.result(timeout=30)
    assert not Checkpoint.objects.filter(run_id=handle.id).exists()
    durable.cancel(target.id)
