"""Create the "Reviewers" group with the permission to decide inbox requests."""

from django.db import migrations


def create_reviewers(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="inbox", model="request")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="decide_request",
        defaults={"name": "Can review and decide agent requests"},
    )
    group, _ = Group.objects.get_or_create(name="Reviewers")
    group.permissions.add(permission)


def remove_reviewers(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Reviewers").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_reviewers, remove_reviewers)]
