# The queue-count indexes leave out the default queue, which cannot be limited.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('durable', '0009_end_waiters_index'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='workflowrun',
            name='durable_run_running_queue_idx',
        ),
        migrations.RemoveIndex(
            model_name='workflowrun',
            name='durable_run_holding_queue_idx',
        ),
        migrations.AddIndex(
            model_name='workflowrun',
            index=models.Index(condition=models.Q(('status', 'RUNNING'), models.Q(('queue', 'default'), _negated=True)), fields=['queue'], name='durable_run_running_queue_idx'),
        ),
        migrations.AddIndex(
            model_name='workflowrun',
            index=models.Index(condition=models.Q(('started_at__isnull', False), ('status__in', ('ENQUEUED', 'RUNNING', 'WAITING')), models.Q(('queue', 'default'), _negated=True)), fields=['queue'], name='durable_run_holding_queue_idx'),
        ),
    ]
