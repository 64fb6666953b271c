"""Admin for API tokens (create one, shown once; list; revoke), the audit log (read-only, never
deletable) and django-axes' lockouts (unlock, audited). Never shows a stored secret."""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from axes.utils import reset
from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from lighterweb import audit
from lighterweb.crypto import decrypt_secret, encrypt_secret
from lighterweb.models import ApiToken, AuditEntry

NEW_TOKEN_SESSION_KEY = "lw_new_api_token"  # noqa: S105 - a session key name, not a secret


class ApiTokenCreationForm(forms.ModelForm):  # type: ignore[type-arg]
    """Name (and owner) of a new token; saving generates its secret."""

    class Meta:
        model = ApiToken
        fields = ["user", "name", "read_only"]

    def save(self, commit: bool = True) -> ApiToken:
        token: ApiToken = super().save(commit=False)
        # Kept on the instance only until the "copy it now" page has rendered it.
        token.raw_token = token.generate()  # type: ignore[attr-defined]
        if commit:
            token.save()
        return token


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ApiTokenCreationForm
    list_display = [
        "name",
        "prefix",
        "user",
        "read_only",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["read_only", "revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:  # type: ignore[override]
        if obj is None:
            return (
                ["user", "name", "read_only"]
                if request.user.is_superuser
                else ["name", "read_only"]
            )
        return ["user", "name", "read_only", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # An issued token is immutable apart from revocation (the list action).
        return [*self.readonly_fields, "user", "name", "read_only"] if obj else []

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        tokens = super().get_queryset(request)
        return tokens if request.user.is_superuser else tokens.filter(user=request.user)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"user": request.user.pk}

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if not request.user.is_superuser:
            obj.user = request.user  # type: ignore[assignment] # staff: own tokens only
        super().save_model(request, obj, form, change)
        if not change:
            audit.record(
                request,
                "token_created",
                f"API token {obj.name!r}{' (read-only)' if obj.read_only else ''} for {obj.user}",
                target=obj,
            )

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        # POST-redirect-GET: a reload of the "copy it now" page must not post the form again
        # (a second token). The secret waits in the session, encrypted with the field key, until
        # that page shows it once.
        request.session[NEW_TOKEN_SESSION_KEY] = {
            "id": obj.pk,
            "secret": encrypt_secret(obj.raw_token),  # type: ignore[attr-defined]
        }
        return HttpResponseRedirect(
            reverse("admin:lighterweb_apitoken_created", args=[obj.pk]), status=303
        )

    def get_urls(self) -> list[URLPattern]:
        created = self.admin_site.admin_view(self.created_view)
        return [
            path("<int:token_id>/created/", created, name="lighterweb_apitoken_created"),
            *super().get_urls(),
        ]

    def created_view(self, request: HttpRequest, token_id: int) -> HttpResponse:
        """Shows a new token's secret once; a reload says it was shown already."""
        token = get_object_or_404(self.get_queryset(request), pk=token_id)
        pending = request.session.get(NEW_TOKEN_SESSION_KEY) or {}
        raw_token = None
        if pending.get("id") == token.pk:
            del request.session[NEW_TOKEN_SESSION_KEY]
            raw_token = decrypt_secret(pending["secret"])
        context = {
            **self.admin_site.each_context(request),
            "title": "API token created",
            "token": token,
            "raw_token": raw_token,
            "opts": self.opts,
        }
        response = TemplateResponse(request, "lighterweb/apitoken_created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            if token.is_active:
                audit.record(request, "token_revoked", f"API token of {token.user}", target=token)
            token.revoke()
        messages.success(request, f"Revoked {queryset.count()} token(s).")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The audit log: searchable and filterable, and nobody can add, edit or delete an entry."""

    list_display = ["created_at", "action", "source", "actor", "ip_address", "target", "detail"]
    list_filter = ["action", "source", "created_at"]
    search_fields = ["actor", "target", "detail", "ip_address"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class LockoutAdmin(AccessAttemptAdmin):  # type: ignore[misc]
    """django-axes' failed-login records; "Unlock" clears them (audited)."""

    actions = ["unlock"]

    @admin.action(description="Unlock (clear the failed attempts)", permissions=["delete"])
    def unlock(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        for attempt in queryset:
            audit.record(
                request,
                "unlock",
                f"unlocked {attempt.username!r} from {attempt.ip_address}",
                target=attempt.username,
            )
            reset(username=attempt.username)
            reset(ip=attempt.ip_address)
        messages.success(request, f"Unlocked {queryset.count()} login(s).")
