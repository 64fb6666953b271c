"""Roles: *viewer*, *operator* and *admin* as Django groups holding model permissions.

- viewer: reads every bots model (not the audit log, not where alerts go), and manages its
  own API tokens (a token carries its user's permissions, so it can never do more than its
  owner).
- operator: a viewer who also controls bots (start, pause, stop, emergency stop, cancel-all:
  `bots.control_bot`) and creates, edits and deletes them.
- admin: an operator who also manages exchange accounts and their keys (and unlocks them),
  where alerts go (notification channels, whose tokens and secrets are write-only) and who
  commands the bots from Telegram (links), users, groups and everyone's tokens.

The admin, the API, the dashboard views and the websocket all ask `user.has_perm(...)` for the
same permission names (bots.permissions), so a role means the same thing everywhere. Being staff
is still required to log in at all. Superusers have every permission.

`groups_sync` is run by a data migration and again after every `migrate` (post_migrate, see
lighterweb.apps), so models added later (backtests, ...) reach the roles without a migration of
their own; it is idempotent and sets each group's permissions to exactly this table.
"""

from __future__ import annotations

from typing import Any

VIEWER = "viewer"
OPERATOR = "operator"
ADMIN = "admin"

# Where alerts go and who commands the bots from Telegram (bots.notify): the admin role's.
_NOTIFY_MODELS = ("notificationchannel", "telegramlink")
_BOTS_MODELS = (
    "exchangeaccount",
    "market",
    "gridbot",
    "bot",
    "hedgebot",
    "order",
    "fill",
    "fundingpayment",
    "botevent",
    # Backtests (bots.backtest): the candle store, runs and sweeps.
    "candle",
    "fundingrate",
    "backtest",
    "backtestsweep",
    # PnL over time (bots.history): written by a beat task, read by the charts.
    "pnlsnapshot",
)
_OWN_TOKENS = ("lighterweb.add_apitoken", "lighterweb.change_apitoken", "lighterweb.view_apitoken")

VIEWER_PERMISSIONS: tuple[str, ...] = (
    *(f"bots.view_{model}" for model in _BOTS_MODELS),
    *_OWN_TOKENS,
)
OPERATOR_PERMISSIONS: tuple[str, ...] = (
    *VIEWER_PERMISSIONS,
    "bots.control_bot",
    "bots.add_gridbot",
    "bots.change_gridbot",
    "bots.delete_gridbot",
    "bots.add_hedgebot",
    "bots.change_hedgebot",
    "bots.delete_hedgebot",
    # Market data and backtests: import candles, run and cancel backtests and sweeps.
    "bots.add_candle",
    "bots.add_fundingrate",
    "bots.add_backtest",
    "bots.delete_backtest",
    "bots.add_backtestsweep",
    "bots.delete_backtestsweep",
)
ADMIN_PERMISSIONS: tuple[str, ...] = (
    *OPERATOR_PERMISSIONS,
    "bots.add_exchangeaccount",
    "bots.change_exchangeaccount",
    "bots.delete_exchangeaccount",
    "bots.unlock_account",
    "lighterweb.delete_apitoken",
    "lighterweb.view_auditentry",
    *(
        f"bots.{action}_{model}"
        for model in _NOTIFY_MODELS
        for action in ("add", "change", "delete", "view")
    ),
    # Unlock a locked-out login (django-axes) and remove a lost authenticator (django-otp).
    "axes.view_accessattempt",
    "axes.delete_accessattempt",
    "axes.view_accesslog",
    "axes.view_accessfailurelog",
    "otp_totp.view_totpdevice",
    "otp_totp.delete_totpdevice",
    *(
        f"auth.{action}_{model}"
        for model in ("user", "group")
        for action in ("add", "change", "delete", "view")
    ),
)

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    VIEWER: VIEWER_PERMISSIONS,
    OPERATOR: OPERATOR_PERMISSIONS,
    ADMIN: ADMIN_PERMISSIONS,
}


def groups_sync(apps: Any, extra: dict[str, tuple[str, ...]] | None = None) -> None:
    """Create the role groups and give each exactly its permissions (from a migration's `apps`).

    Permissions are normally created after all migrations ran (post_migrate); they are created
    here first, so a fresh database gets complete groups from its first migrate.
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # create_permissions skips apps without a models module, as migration states have.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, names in ROLE_PERMISSIONS.items():
        wanted = (*names, *(extra or {}).get(role, ()))
        group, _ = group_model.objects.get_or_create(name=role)
        permissions = []
        for name in wanted:
            app_label, codename = name.split(".", 1)
            if not _model_exists(apps, app_label, codename):
                # An older migration state (the model arrives in a later migration): the
                # post_migrate sync gives it to the role once it exists.
                continue
            permissions.append(
                permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(permissions)


def _model_exists(apps: Any, app_label: str, codename: str) -> bool:
    """Whether `apps` (a migration state or the live registry) has the model a permission
    codename such as "view_candle" is about; custom ones ("control_bot") always count."""
    action, _, model = codename.partition("_")
    if action not in ("add", "change", "delete", "view"):
        return True
    try:
        apps.get_model(app_label, model)
    except LookupError:
        return False
    return True


def groups_sync_after_migrate(**kwargs: Any) -> None:
    """post_migrate receiver: the role groups follow the table on every migrate."""
    from django.apps import apps

    groups_sync(kwargs.get("apps") or apps)
