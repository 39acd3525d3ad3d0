"""Partial indexes for the parent and the running queue: most runs have no parent and few are
running, so most row versions of a run no longer need an entry in either."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('durable', '0003_fewer_indexes'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='workflowrun',
            name='durable_run_queue_idx',
        ),
        migrations.RemoveIndex(
            model_name='workflowrun',
            name='durable_run_parent_idx',
        ),
        migrations.AddIndex(
            model_name='workflowrun',
            index=models.Index(condition=models.Q(('status', 'RUNNING')), fields=['queue'], name='durable_run_running_queue_idx'),
        ),
        migrations.AddIndex(
            model_name='workflowrun',
            index=models.Index(condition=models.Q(('parent__isnull', False)), fields=['parent'], name='durable_run_parent_idx'),
        ),
    ]
