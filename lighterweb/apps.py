"""The lighterweb app: connects the auth signals to the audit log at start-up."""

from __future__ import annotations

from django.apps import AppConfig


class LighterwebConfig(AppConfig):
    name = "lighterweb"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from lighterweb import audit_signals  # noqa: F401 - registers the receivers
