"""Fewer indexes on the tables every run writes: each one costs every insert and status change.

The (run, seq) constraint already serves checkpoint lookups by run, the (run, key, id) index
event lookups, and Django's text-pattern copies of the id, name and parent indexes serve no
query the engine makes (LIKE 'prefix%' only).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('durable', '0002_claim_indexes'),
    ]

    operations = [
        migrations.AlterField(
            model_name='checkpoint',
            name='run',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='checkpoints', to='durable.workflowrun'),
        ),
        migrations.AlterField(
            model_name='event',
            name='run',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='events', to='durable.workflowrun'),
        ),
        migrations.AlterField(
            model_name='message',
            name='destination',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='messages', to='durable.workflowrun'),
        ),
        migrations.AlterField(
            model_name='workflowrun',
            name='name',
            field=models.CharField(max_length=255),
        ),
        migrations.AlterField(
            model_name='workflowrun',
            name='parent',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='children', to='durable.workflowrun'),
        ),
        migrations.AddIndex(
            model_name='message',
            index=models.Index(fields=['destination'], name='durable_msg_destination_idx'),
        ),
        migrations.AddIndex(
            model_name='workflowrun',
            index=models.Index(fields=['name'], name='durable_run_name_idx'),
        ),
        migrations.AddIndex(
            model_name='workflowrun',
            index=models.Index(fields=['parent'], name='durable_run_parent_idx'),
        ),
        # The primary key's pattern-ops copy, which no field option removes (a no-op on SQLite).
        migrations.RunSQL('DROP INDEX IF EXISTS "durable_workflowrun_id_81a99738_like"', migrations.RunSQL.noop),
    ]
