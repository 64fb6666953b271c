"""GridBot becomes a child of the new common `Bot` (multi-table inheritance), keeping its ids.

Every grid row becomes a `Bot` row with the same id (name, account, market, desired state, run
state), then `bots_gridbot.bot_ptr_id` (= the old id) becomes its primary key. Orders, fills,
funding payments, events and notification channels point to `Bot` before the old `id` column
goes, so their values stay valid and their foreign keys are re-created on `bots_bot`. Works on
SQLite and PostgreSQL (tests/bots/test_migration_bot_base.py).
"""

from typing import Any

import django.db.models.deletion
from django.core.management.color import no_style
from django.db import migrations, models
from django.db.migrations.operations.base import Operation

# Columns that move from bots_gridbot to bots_bot, with the same values.
MOVED = [
    "name",
    "account_id",
    "market_id",
    "desired_state",
    "status",
    "status_message",
    "cancel_all_requested_at",
    "lease_fence",
    "heartbeat_at",
    "crash_count",
    "last_crash_at",
    "created_at",
    "updated_at",
    "started_at",
    "stopped_at",
]


def grids_to_bots(apps: Any, schema_editor: Any) -> None:
    """One Bot row per GridBot row, same id and values; then the id sequence past them."""
    bot = apps.get_model("bots", "Bot")
    # Plain SQL, so the auto_now fields keep their stored values (a model save would not).
    quote = schema_editor.quote_name
    columns = ", ".join(quote(column) for column in ["id", *MOVED])
    schema_editor.execute(
        f"INSERT INTO {quote('bots_bot')} ({columns}) "  # noqa: S608 - constant names only
        f"SELECT {columns} FROM {quote('bots_gridbot')}"
    )
    connection = schema_editor.connection
    for sql in connection.ops.sequence_reset_sql(no_style(), [bot]):
        schema_editor.execute(sql)


def bots_to_grids(apps: Any, schema_editor: Any) -> None:
    raise NotImplementedError("0012_bot_base cannot be reversed")


def parent_links_set(apps: Any, schema_editor: Any) -> None:
    grid_bot = apps.get_model("bots", "GridBot")
    grid_bot.objects.update(bot_ptr_id=models.F("id"))
    # Nothing may still reference bots_gridbot.id: dropping the column would drop such a foreign
    # key's constraint on PostgreSQL and leave a dangling one on SQLite. A model added by
    # another migration that points to GridBot must be repointed to Bot above.
    left = [
        f"{rel.related_model._meta.label}.{rel.field.name}"
        for rel in grid_bot._meta.related_objects
        if rel.field.name != "bot_ptr"
    ]
    if left:
        raise RuntimeError(f"0012_bot_base: repoint these to bots.Bot first: {left}")


class MakeChildOf(Operation):
    """State only: the model now inherits from `parent` (its `*_ptr` field is the link).

    Django has no operation for changing a model's bases; the database side is done by the
    operations around it.
    """

    reduces_to_sql = False
    reversible = False

    def __init__(self, name: str, parent: str) -> None:
        self.name = name
        self.parent = parent

    def deconstruct(self) -> tuple[str, list[Any], dict[str, str]]:
        return (self.__class__.__name__, [], {"name": self.name, "parent": self.parent})

    def state_forwards(self, app_label: str, state: Any) -> None:
        model_state = state.models[app_label, self.name.lower()]
        model_state.bases = (self.parent,)
        state.reload_model(app_label, self.name.lower(), delay=False)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        pass

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        return f"Make {self.name} a child of {self.parent}"


# Grid-only references (backtests, sweeps, position transfers): pointed to Bot while the grid
# table changes its primary key, then back to GridBot (its `bot_ptr_id`, the same ids).
# (model, related name, nullable): nullable ones are SET_NULL, the others CASCADE.
GRID_REFERENCES = [
    ("backtest", "backtests", True),
    ("backtestsweep", "sweeps", True),
    ("positiontransfer", "transfers", True),
    ("pnlsnapshot", "pnl_snapshots", False),
]


def _grid_fk(related_name: str, to: str, null: bool) -> Any:
    return models.ForeignKey(
        blank=null,
        null=null,
        on_delete=(
            django.db.models.deletion.SET_NULL if null else django.db.models.deletion.CASCADE
        ),
        related_name=related_name,
        to=to,
    )


def _bot_fk(related_name: str, *, null: bool = True, on_delete: Any = models.SET_NULL) -> Any:
    return models.ForeignKey(
        blank=null,
        null=null,
        on_delete=on_delete,
        related_name=related_name,
        to="bots.bot",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("bots", "0011_pnl_snapshots"),
    ]

    operations = [
        migrations.CreateModel(
            name="Bot",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100)),
                (
                    "desired_state",
                    models.CharField(
                        choices=[
                            ("running", "Running"),
                            ("paused", "Paused"),
                            ("stopped", "Stopped"),
                        ],
                        default="stopped",
                        editable=False,
                        max_length=8,
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("stopped", "Stopped"),
                            ("starting", "Starting"),
                            ("running", "Running"),
                            ("degraded", "Degraded"),
                            ("paused", "Paused"),
                            ("stopping", "Stopping"),
                            ("error", "Error"),
                            ("locked", "Locked (waiting for unlock)"),
                        ],
                        default="stopped",
                        editable=False,
                        max_length=8,
                    ),
                ),
                ("status_message", models.TextField(blank=True, default="", editable=False)),
                (
                    "cancel_all_requested_at",
                    models.DateTimeField(blank=True, editable=False, null=True),
                ),
                ("lease_fence", models.BigIntegerField(default=0, editable=False)),
                ("heartbeat_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("crash_count", models.PositiveIntegerField(default=0, editable=False)),
                ("last_crash_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("started_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("stopped_at", models.DateTimeField(blank=True, editable=False, null=True)),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="bots",
                        to="bots.exchangeaccount",
                    ),
                ),
                (
                    "market",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="bots",
                        to="bots.market",
                    ),
                ),
            ],
            options={
                "ordering": ["name"],
            },
        ),
        # The grid's related names move to Bot: free them on GridBot first.
        migrations.AlterField(
            model_name="gridbot",
            name="account",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="bots.exchangeaccount",
            ),
        ),
        migrations.AlterField(
            model_name="gridbot",
            name="market",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="bots.market"
            ),
        ),
        migrations.RunPython(grids_to_bots, bots_to_grids),
        # The ids are the same: only the foreign keys' targets change.
        migrations.AlterField(model_name="order", name="bot", field=_bot_fk("orders")),
        migrations.AlterField(model_name="fill", name="bot", field=_bot_fk("fills")),
        migrations.AlterField(
            model_name="fundingpayment", name="bot", field=_bot_fk("funding_payments")
        ),
        migrations.AlterField(
            model_name="botevent",
            name="bot",
            field=_bot_fk("events", null=False, on_delete=django.db.models.deletion.CASCADE),
        ),
        migrations.AlterField(
            model_name="notificationchannel",
            name="bots",
            field=models.ManyToManyField(
                blank=True,
                help_text="Only these bots (none selected: every bot).",
                related_name="notification_channels",
                to="bots.bot",
            ),
        ),
        *[
            migrations.AlterField(
                model_name=model,
                name="bot",
                field=_grid_fk(f"{related}_during_0012", "bots.bot", null),
            )
            for model, related, null in GRID_REFERENCES
        ],
        migrations.AddField(
            model_name="gridbot",
            name="bot_ptr",
            field=models.OneToOneField(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="bots.bot",
            ),
        ),
        migrations.RunPython(parent_links_set, bots_to_grids),
        migrations.RemoveConstraint(
            model_name="gridbot",
            name="one_active_grid_per_account_market",
        ),
        *[
            migrations.RemoveField(model_name="gridbot", name=column.removesuffix("_id"))
            for column in MOVED
        ],
        # The recipe for a new primary key: drop the old one, then promote the link (SQLite
        # rebuilds the table without the auto-created `id` the state briefly has).
        migrations.RemoveField(model_name="gridbot", name="id"),
        migrations.AlterField(
            model_name="gridbot",
            name="bot_ptr",
            field=models.OneToOneField(
                auto_created=True,
                on_delete=django.db.models.deletion.CASCADE,
                parent_link=True,
                primary_key=True,
                serialize=False,
                to="bots.bot",
            ),
        ),
        MakeChildOf(name="GridBot", parent="bots.bot"),
        *[
            migrations.AlterField(
                model_name=model, name="bot", field=_grid_fk(related, "bots.gridbot", null)
            )
            for model, related, null in GRID_REFERENCES
        ],
        migrations.AddConstraint(
            model_name="bot",
            constraint=models.UniqueConstraint(
                condition=models.Q(("desired_state", "stopped"), _negated=True),
                fields=("account", "market"),
                name="one_active_bot_per_account_market",
                violation_error_message="A bot is already active on this account and market.",
            ),
        ),
    ]
