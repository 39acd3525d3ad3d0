"""Signals the engine sends, so that other apps can react to a run without the engine knowing them."""

from django.dispatch import Signal

# Sent (sender=WorkflowRun, run_id=...) once the transaction that cancelled an unfinished run has
# committed; never for a cancel of a run that had already ended. Receivers run in the caller's
# thread; an exception in one is logged (logger "django.dispatch") and does not undo the cancel.
run_cancelled = Signal()
