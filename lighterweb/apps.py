"""The lighterweb app: connects the auth signals to the audit log at start-up, and keeps the role
groups in step with lighterweb.roles after every migrate."""

from __future__ import annotations

from django.apps import AppConfig


class LighterwebConfig(AppConfig):
    name = "lighterweb"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from lighterweb import audit_signals  # noqa: F401 - registers the receivers
        from lighterweb.roles import groups_sync_after_migrate

        # Once per migrate (sent for this app), after every app's tables exist.
        post_migrate.connect(groups_sync_after_migrate, sender=self, dispatch_uid="lw-roles-sync")
