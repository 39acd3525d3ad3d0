"""No index on lease_owner: every lookup by owner also names the run (its primary key), and the
index cost an entry for every row version a claim writes."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('durable', '0004_partial_indexes'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='workflowrun',
            name='durable_run_lease_idx',
        ),
    ]
