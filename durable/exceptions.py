"""Errors the engine raises. Each message says what went wrong and how to fix it."""


class DurableError(Exception):
    """Base class of the engine's errors."""


class QueueDeduplicated(DurableError):
    """``queue.enqueue(deduplication_id=...)`` found an unfinished run of that queue with the same id."""


class WorkflowNotFound(DurableError, LookupError):
    pass


class WorkflowConflict(DurableError):
    """The same workflow id was started for a different workflow."""


class NotInWorkflow(DurableError, RuntimeError):
    """A workflow-body function was called outside a workflow."""


class SerializationError(DurableError, TypeError):
    """A value cannot be stored: it does not round-trip through jsonpickle."""


class WorkflowImportError(DurableError, ImportError):
    """A worker could not import the function a run was started with."""


class WorkflowFailed(DurableError):
    """``handle.result()`` of a run that ended in an error raises the run's own exception;
    this one is raised when that exception could not be restored."""


class WorkflowCancelled(DurableError):
    """The run was cancelled."""


class ResultTimeout(DurableError, TimeoutError):
    pass


class MaxRecoveryAttemptsExceeded(DurableError):
    pass


class NonDeterminismError(BaseException):
    """Replay found a checkpoint that the code no longer produces at that position.

    A BaseException, like KeyboardInterrupt, so a workflow's ``except Exception``
    cannot swallow it and carry on with a history that does not match its code.
    """


class EngineError(DurableError):
    """The engine's own write failed for a reason that is neither the workflow's nor transient."""
