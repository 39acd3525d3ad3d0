"""Signals the engine sends, so that other apps can react to a run without the engine knowing them."""

from django.dispatch import Signal

# Sent (sender=WorkflowRun, run_id=...) for each run a cancel stopped (the run, its unfinished
# descendants; a failed run is marked cancelled too) once that cancel has committed; never for a
# run that had succeeded or was cancelled already. Receivers of all three signals run in the
# thread that made the change (a worker's, for run_finished); an exception in one is logged
# (logger "django.dispatch") and undoes nothing.
run_cancelled = Signal()

# Sent (sender=WorkflowRun, run_id=..., status="SUCCESS" or "ERROR", operations=...) once a run's
# end has committed. ``operations``: a frozenset of the names the run's history records (its steps'
# names, its recvs' topics...), so that a receiver that cares about one operation can skip the
# runs that never did it without a query; None when the worker ended the run without reading its
# history (it failed before its replay: its workflow could not be imported, or it was recovered
# too many times).
run_finished = Signal()

# Sent (sender=WorkflowRun, run_id=...) once ``durable.resume`` of a cancelled, failed or parked run
# has committed: the run is enqueued to continue from its last checkpoint.
run_resumed = Signal()

# Sent (sender=WorkflowRun, run_id=<the new run>, forked_from=<the original>, from_step=n) once a
# fork has committed: the new run keeps the original's checkpoints before operation n.
run_forked = Signal()
