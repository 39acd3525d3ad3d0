"""Pydantic AI agents made durable on this engine: every model request and tool call is a step.

Attach ``Durability()`` to an agent declared at module level and run the agent inside a
``@durable.workflow``: ``await agent.run(...)`` in an ``async def`` workflow, or
``run_sync(agent, ...)`` in a plain one. Outside a workflow the agent runs as usual.

Built on Pydantic AI's own durable-execution surface (``pydantic_ai.durable_exec``): the
framework decides what is a durable unit and names it (``JournalOperationNamer``:
``<agent>__model.request``, ``<agent>__function_toolset__<id>.call_tool:<tool>``, ...); this
module only runs each unit as one step of the current run. Values cross as Pydantic AI's own
JSON form (``JSON_CODEC``), which the engine stores as plain JSON.

A renamed agent, toolset or tool changes those step names, so a run parked before the rename
stops with a ``NonDeterminismError`` naming the old and new step; ``durable.fork`` from that
step (or deploying the old names) resolves it, as for any workflow.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, cast

from pydantic import TypeAdapter
from pydantic_ai.agent import AgentRunResult, EventStreamHandler
from pydantic_ai.agent.abstract import AbstractAgent
from pydantic_ai.capabilities.abstract import WrapRunHandler
from pydantic_ai.durable_exec import (
    JSON_CODEC,
    BaseDurabilityCapability,
    DurabilityEngineSpec,
    DurableOperationId,
    JournalCallableOperationBackend,
    RoleBasedOperationConfig,
    ToolsetCallToolId,
    ToolsetKind,
    ToolsetValidateToolArgumentsId,
    conversation_id_from_run_id,
    external_event_scope,
)
from pydantic_ai.messages import (
    AgentStreamEvent,
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelResponse,
    PartEndEvent,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models import Model, ModelRequestContext
from pydantic_ai.tools import AgentDepsT, RunContext, ToolDefinition
from pydantic_ai.toolsets import ToolsetTool

from . import aio, context
from .exceptions import SerializationError
from .pydantic_ai_waits import DurableWaiter, fail_external_event, resolve_external_event

__all__ = ["Durability", "StepConfig", "fail_external_event", "resolve_external_event", "run_sync"]

TOOL_CONFIG_KEY = "durable"


class StepConfig(TypedDict, total=False):
    """How a model request or tool call step is retried (as ``@durable.step``'s arguments).

    Per tool, in its metadata: ``@agent.tool(metadata={"durable": {"retries": 3}})``, or
    ``{"durable": False}`` to run that tool outside any step."""

    retries: int
    interval: float
    backoff: float


def _unstorable(exc: Exception) -> BaseException:
    return SerializationError(
        f"A model response or tool result cannot be stored as JSON: {exc}. Return JSON-serializable "
        "data (str, numbers, lists, dicts, Pydantic models, dataclasses) from the tool."
    )


class _StepBackend(JournalCallableOperationBackend[StepConfig]):
    async def execute(
        self,
        *,
        operation_id: DurableOperationId,
        name: str,
        body: Callable[[], Awaitable[object]],
        cache_key: tuple[object, ...],
        config: StepConfig,
    ) -> object:
        return await aio.run_step(
            name,
            body,
            retries=config.get("retries", 0),
            interval=config.get("interval", 1.0),
            backoff=config.get("backoff", 2.0),
            give_up=(SerializationError,),
        )


@dataclass(init=False, kw_only=True)
class Durability(BaseDurabilityCapability[AgentDepsT]):
    """Make an agent durable on this engine: model requests, function-tool calls and MCP or
    dynamic toolset calls each become one step of the workflow run that runs the agent."""

    engine_spec = DurabilityEngineSpec(
        engine_name="durable",
        durable_unit_noun="step",
        durable_container_noun="workflow",
        codec=JSON_CODEC,
        serialization_failure=_unstorable,
        wrapped_toolset_kinds=frozenset({"function", "mcp", "dynamic"}),
        # Steps run in the run's own process, so an MCP server is connected once per run, by its first step.
        toolset_lifecycles={"function": "enter-always", "mcp": "enter-in-durable-unit", "dynamic": "enter-never"},
        # Toolsets added per run have no stable step names to replay against.
        unsupported_runtime_toolset_kinds=frozenset({"function", "mcp", "dynamic"}),
        journal_discovery=True,
        # Replay matches steps by their order: parallel tool calls would record them in any order.
        sequential_tools_in_durable_context=True,
        tool_config_key=TOOL_CONFIG_KEY,
    )

    def __init__(
        self,
        *,
        name: str | None = None,
        models: Mapping[str, Model] | None = None,
        event_stream_handler: EventStreamHandler[AgentDepsT] | None = None,
        model_step: StepConfig | None = None,
        tool_step: StepConfig | None = None,
        mcp_step: StepConfig | None = None,
        event_step: StepConfig | None = None,
        publish_events: str | None = None,
    ) -> None:
        """``name`` (default: the agent's name) prefixes every step name; keep it stable.
        ``model_step``, ``tool_step``, ``mcp_step`` and ``event_step`` set the retries of those
        steps (default: none); a tool's metadata ``{"durable": {...}}`` overrides ``tool_step``.
        ``publish_events="agent"`` publishes the run's events (each part of each model response,
        each tool call and its result, as Pydantic AI's ``PartEndEvent``, ``FunctionToolCallEvent``
        and ``FunctionToolResultEvent`` in its JSON form) with ``durable.set_event`` under that
        key: recorded once, replayed after that, readable with ``durable.event_history``."""
        super().__init__(models=models, event_stream_handler=event_stream_handler, name=name)
        self._publish_events = publish_events
        self._model_step = model_step or StepConfig()
        self._tool_step = tool_step or StepConfig()
        self._mcp_step = mcp_step or StepConfig()
        self._event_step = event_step or StepConfig()

    @property
    def in_durable_context(self) -> bool:
        return context.get() is not None

    def get_default_run_id(self) -> str | None:
        ctx = context.get()
        # The operation number where the agent run starts: the same on every replay.
        return None if ctx is None else f"{ctx.run_id}:{ctx.seq}"

    def get_default_conversation_id(self, run_id: str) -> str | None:
        return conversation_id_from_run_id(run_id) if self.in_durable_context else None

    async def wrap_run(self, ctx: RunContext[AgentDepsT], *, handler: WrapRunHandler) -> AgentRunResult[Any]:
        if not self.in_durable_context:
            return await super().wrap_run(ctx, handler=handler)
        # RequestInput and wait_for_external_event wait durably: see pydantic_ai_waits.py.
        with external_event_scope(DurableWaiter(self.name)):
            return await super().wrap_run(ctx, handler=handler)

    async def after_model_request(
        self, ctx: RunContext[AgentDepsT], *, request_context: ModelRequestContext, response: ModelResponse
    ) -> ModelResponse:
        for index, part in enumerate(response.parts):
            await self._publish(PartEndEvent(index=index, part=part))
        return response

    async def after_tool_execute(
        self, ctx: RunContext[AgentDepsT], *, call: ToolCallPart, tool_def: ToolDefinition, args: Any, result: Any
    ) -> Any:
        await self._publish(FunctionToolCallEvent(part=call))
        returned = ToolReturnPart(tool_name=call.tool_name, content=result, tool_call_id=call.tool_call_id)
        await self._publish(FunctionToolResultEvent(part=returned))
        return result

    async def _publish(self, event: AgentStreamEvent) -> None:
        if self._publish_events is not None and self.in_durable_context:
            await aio.call_sync(_publish, self._publish_events, _EVENT_JSON.dump_python(event, mode="json"))

    def get_durable_operation_backend(self) -> _StepBackend:
        def tool_config(
            operation_id: DurableOperationId, tool: object | None, tool_name: str
        ) -> StepConfig | Literal[False]:
            assert isinstance(operation_id, ToolsetCallToolId | ToolsetValidateToolArgumentsId)
            resolve = self._build_resolve_tool_config(self._toolset_base_config(operation_id.toolset_kind))
            return cast(StepConfig | Literal[False], resolve(cast(ToolsetTool[Any] | None, tool), tool_name))

        config = RoleBasedOperationConfig[StepConfig](
            model=self._model_step,
            event=self._event_step,
            capability=StepConfig(),
            tool=self._tool_step,
            resolve_tool=cast(
                Callable[[DurableOperationId, object | None, str], StepConfig | Literal[False]], tool_config
            ),
        )
        return _StepBackend(agent_name=self.name, default_model_id=self.default_model_id, config=config)

    def _toolset_base_config(self, kind: ToolsetKind) -> Any:
        return self._mcp_step if kind == "mcp" else self._tool_step


_EVENT_JSON: TypeAdapter[AgentStreamEvent] = TypeAdapter(AgentStreamEvent)


def _publish(key: str, value: Any) -> None:
    from .messaging import set_event  # models load with the app registry, after this module

    set_event(key, value)


def run_sync(agent: AbstractAgent[Any, Any], *args: Any, **kwargs: Any) -> Any:
    """``agent.run(...)`` from a plain (not ``async def``) workflow, returning the run's result.

    Use it instead of ``agent.run_sync``, which would run the event loop on the worker's own
    thread, where Django refuses the engine's database work."""
    return aio.blocking(agent.run)(*args, **kwargs)
