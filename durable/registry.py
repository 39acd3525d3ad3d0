"""``@durable.workflow``: workflows are found by name, or imported by their path on demand."""

import functools
import importlib
import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Generic, ParamSpec, TypeVar, overload

from . import aio
from .exceptions import WorkflowImportError

P = ParamSpec("P")
R = TypeVar("R")

_by_name: dict[str, "Workflow[Any, Any]"] = {}


class Workflow(Generic[P, R]):
    """A workflow function. Calling it runs the body inline; ``durable.start`` runs it durably."""

    def __init__(
        self, fn: Callable[P, R], name: str | None, max_recovery_attempts: int | None, timeout: Any = None
    ) -> None:
        functools.update_wrapper(self, fn)
        self.call = fn
        # What a worker runs: a plain function, also for an ``async def`` workflow (see aio.py).
        self.fn: Callable[P, R] = aio.blocking(fn) if aio.is_async(fn) else fn  # type: ignore[arg-type]
        self.timeout = timeout  # seconds or a timedelta: the default of durable.start(workflow_timeout=)
        self.target = f"{fn.__module__}:{fn.__qualname__}"
        self.name = name or f"{fn.__module__}.{fn.__qualname__}"
        self.max_recovery_attempts = max_recovery_attempts
        previous = _by_name.get(self.name)
        if previous is not None and previous.target != self.target:
            raise ValueError(
                f"Two workflows are named {self.name!r}: {previous.target} and {self.target}. "
                "Give one of them another name=."
            )
        _by_name[self.name] = self

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.call(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<durable workflow {self.name}>"

    def takes(self, parameter: str) -> bool:
        """Whether the workflow function accepts ``parameter`` by name (or any keyword)."""
        try:
            params = inspect.signature(self.call).parameters
        except (TypeError, ValueError):
            return True
        return parameter in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

    def check_importable(self) -> None:
        if "<locals>" in self.target or self.fn.__module__ == "__main__":
            raise WorkflowImportError(
                f"Workflow {self.name} is defined in {'a function' if '<locals>' in self.target else '__main__'}, "
                "so a worker process cannot import it. Define it at module level in an importable module."
            )


@overload
def workflow(fn: Callable[P, R], /) -> Workflow[P, R]: ...
@overload
def workflow(
    *, name: str | None = None, max_recovery_attempts: int | None = None, timeout: float | timedelta | None = None
) -> Callable[[Callable[P, R]], Workflow[P, R]]: ...
def workflow(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    max_recovery_attempts: int | None = None,
    timeout: float | timedelta | None = None,
) -> Workflow[P, R] | Callable[[Callable[P, R]], Workflow[P, R]]:
    """Make ``fn`` a durable workflow, registered as ``module.qualname`` unless ``name`` is given.
    ``timeout``: each run is cancelled (with its children) once this long has passed since its
    start, unless ``durable.start(workflow_timeout=)`` says otherwise."""

    def decorate(f: Callable[P, R]) -> Workflow[P, R]:
        return Workflow(f, name, max_recovery_attempts, timeout)

    return decorate(fn) if fn is not None else decorate


def as_workflow(fn: Any) -> Workflow[Any, Any]:
    if isinstance(fn, Workflow):
        return fn
    if isinstance(fn, str):
        return resolve(fn, fn.replace(":", ".") if ":" in fn else fn)
    raise TypeError(
        f"{fn!r} is not a durable workflow. Decorate it with @durable.workflow before passing it to durable.start()."
    )


def resolve(name: str, target: str) -> Workflow[Any, Any]:
    """Find a workflow by its registered name, importing its module on demand."""
    found = _by_name.get(name)
    if found is not None:
        return found
    module_name, _, qualname = target.partition(":") if ":" in target else target.rpartition(".")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise WorkflowImportError(
            f"Cannot import workflow {name} from {target!r}: {exc}. Make sure the module is on the "
            "worker's path and the function still exists under that name (a renamed workflow needs its "
            "runs cancelled or forked, or the old name kept with @durable.workflow(name=...))."
        ) from exc
    if not isinstance(obj, Workflow):
        raise WorkflowImportError(f"{target} is not decorated with @durable.workflow.")
    return obj
