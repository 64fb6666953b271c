"""A hedge bot does not pause (`services.bot_pause` refuses it): its runner never did, so a hedge
bot marked paused before was running all along. It says so now."""

from typing import Any

from django.db import migrations


def paused_hedges_run(apps: Any, schema_editor: Any) -> None:
    Bot = apps.get_model("bots", "Bot")
    Bot.objects.filter(hedgebot__isnull=False, desired_state="paused").update(
        desired_state="running"
    )


class Migration(migrations.Migration):
    dependencies = [("bots", "0017_market_order_indexes")]

    operations = [migrations.RunPython(paused_hedges_run, migrations.RunPython.noop)]
