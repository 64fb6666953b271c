"""Read-only API tokens, and the viewer / operator / admin groups (lighterweb.roles)."""

from typing import Any

from django.db import migrations, models


def _groups_sync(apps: Any, schema_editor: Any) -> None:
    from lighterweb.roles import groups_sync

    groups_sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("lighterweb", "0001_initial"),
        ("bots", "0003_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="read_only",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "Only GET requests: the token reads what its user may read and changes nothing."
                ),
            ),
        ),
        migrations.RunPython(_groups_sync, migrations.RunPython.noop),
    ]
