"""Close the requests left open by runs that stopped before this release closed them itself.

Runs cancelled earlier left their request open for ever: not listed (the run no longer waits),
not decidable, and read by every inbox query. A run that failed or succeeded while a request
was open left it the same way. Each is closed as of the moment its run finished.
"""

from django.db import migrations
from django.db.models import Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone


def close_stopped(apps, schema_editor):
    Request = apps.get_model("inbox", "Request")
    WorkflowRun = apps.get_model("durable", "WorkflowRun")
    db = schema_editor.connection.alias
    open_requests = Request.objects.using(db).filter(status="open")
    runs = WorkflowRun.objects.using(db).filter(id=OuterRef("run_id"))
    for run_statuses, outcome in ((["CANCELLED"], "cancelled"), (["SUCCESS", "ERROR"], "ended")):
        stopped = runs.filter(status__in=run_statuses)
        open_requests.filter(Exists(stopped)).update(
            status=outcome, closed_at=Coalesce(Subquery(stopped.values("finished_at")[:1]), timezone.now())
        )
    open_requests.filter(~Exists(runs)).update(status="ended", closed_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0004_request_status_stopped"),
        ("durable", "0003_fewer_indexes"),
    ]

    operations = [migrations.RunPython(close_stopped, migrations.RunPython.noop)]
