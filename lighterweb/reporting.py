"""Error reports that hide secrets even in debug mode.

Django's SafeExceptionReporterFilter is active only when DEBUG is off ("if DEBUG is on your site
is not safe anyway"), so `sensitive_variables` / `sensitive_post_parameters` do nothing on the
debug page a local run shows. A local run still holds real exchange keys: this filter applies
them always.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Stars for sensitive locals, POST fields and settings, whatever DEBUG says."""

    def is_active(self, request: HttpRequest | None) -> bool:
        return True
