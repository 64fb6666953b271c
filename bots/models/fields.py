"""Column helpers shared by the bots models."""

from __future__ import annotations

from typing import Any

from django.db import models


def money_field(**kwargs: Any) -> models.DecimalField[Any, Any]:
    """A Decimal column for prices, sizes and amounts (30 digits, 10 decimal places)."""
    return models.DecimalField(max_digits=30, decimal_places=10, **kwargs)
