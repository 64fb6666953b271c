"""Template context shared by the admin pages."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site_flags(request: HttpRequest) -> dict[str, object]:
    """Flags the admin base template needs: the public-bind banner."""
    return {"site_exposed_publicly": settings.EXPOSED_PUBLICLY, "site_bind": settings.BIND}
