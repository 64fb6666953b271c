"""LighterWeb: Django site that runs grid bots on Lighter."""

from lighterweb.celery import app as celery_app

__all__ = ["celery_app"]
