from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    """Registered so that `manage.py lighter_sim` (the simulator) exists; it has no models."""

    name = "exchange"
    verbose_name = "Exchange"
