"""Packed days of candles (`CandleDay`, issue 14: a year loads in <= 1 s), built for the candle
rows already stored."""

from typing import Any

from django.db import migrations, models


def build_packs(apps: Any, schema_editor: Any) -> None:
    from bots.backtest.store import rebuild_all

    rebuild_all(model=apps.get_model("bots", "CandleDay"))


class Migration(migrations.Migration):
    dependencies = [
        ("bots", "0015_transfer_any_bot"),
    ]

    operations = [
        migrations.CreateModel(
            name="CandleDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "network",
                    models.CharField(
                        choices=[
                            ("mainnet", "Mainnet"),
                            ("testnet", "Testnet"),
                            ("paper", "Paper (local simulator)"),
                        ],
                        max_length=10,
                    ),
                ),
                ("market_id", models.PositiveIntegerField()),
                ("day", models.IntegerField()),
                ("rows", models.PositiveIntegerField()),
                ("data", models.BinaryField()),
            ],
            options={
                "ordering": ["network", "market_id", "day"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("network", "market_id", "day"), name="candle_day_unique_day"
                    )
                ],
            },
        ),
        # Back: the table goes with the model; nothing to undo in the candle rows.
        migrations.RunPython(build_packs, migrations.RunPython.noop),
    ]
