"""Pieces shared by the admin modules (bots.admin, bots.admin_accounts, bots.admin_hedge):
badges, bulk actions, what every bot's admin has (status, events, lifecycle actions)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import slugify
from django.utils.translation import gettext_lazy

from bots import permissions, selectors, services
from bots.figures import plain
from bots.models import Bot
from lighterweb import audit


def badge(value: str, label: str | None = None) -> SafeString:
    """A coloured status pill: one CSS class per value (static/lighterweb/admin.css), never an
    inline style, which the Content-Security-Policy refuses."""
    return format_html(
        '<span class="lw-badge lw-badge-{}">{}</span>', slugify(value), label or value
    )


class PlainDecimalInput(forms.NumberInput):
    """A number input that shows `50`, not the database's `50.0000000000`."""

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, Decimal):
            return plain(value)
        return super().format_value(value)  # type: ignore[no-any-return]


def each(
    request: HttpRequest,
    items: QuerySet[Any],
    call: Callable[[Any], object],
    refused: tuple[type[Exception], ...],
    done: str,
) -> None:
    """Apply `call` to every selected item; one admin message per refusal, one for successes."""
    ok = 0
    for item in items:
        try:
            call(item)
        except refused as exc:
            messages.error(request, f"{item}: {exc}")
        else:
            ok += 1
    if ok:
        messages.success(request, f"{done}: {ok} item(s).")


class BotAdminMixin:
    """What the grid's and the hedge bot's admins share: the status pill, the last events, the
    control permission and the one way a lifecycle action calls its service for each bot.
    `list_select_related` names the relations each action loads with the bots."""

    list_select_related: ClassVar[list[str]]

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Bot) -> SafeString:
        return badge(obj.status, obj.get_status_display())

    @admin.display(description="Last 20 events")
    def recent_events(self, obj: Bot) -> SafeString | str:
        if obj.pk is None:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    event.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    badge(event.level),
                    event.kind,
                    event.message,
                )
                for event in selectors.bot_event_list(obj, limit=20)
            ),
        )
        return format_html("<table>{}</table>", rows) if rows else "none yet"

    # Never changed once the bot exists: its records (orders, fills, the position it owns) are
    # of these; shown read-only on its page.
    fixed_fields: ClassVar[tuple[str, ...]]

    def get_readonly_fields(self, request: HttpRequest, obj: Bot | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        return fields if obj is None else [*fields, *self.fixed_fields]

    def get_form(
        self, request: HttpRequest, obj: Bot | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        """The admin's form, which refuses what `services.bot_change_refusal` refuses (a running
        bot's grid), naming the fields, as the API does; nothing is saved."""
        form = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        if obj is None:
            return form

        class WhileRunning(form):  # type: ignore[misc,valid-type]
            def clean(self) -> dict[str, Any]:
                cleaned: dict[str, Any] = super().clean()
                # self.instance still holds the row as read for this request
                labels = {name: str(field.label or name) for name, field in self.fields.items()}
                refusal = services.bot_change_refusal(self.instance, self.changed_data, labels)
                if refusal is not None:
                    raise forms.ValidationError(refusal)
                return cleaned

        return WhileRunning

    def save_model(self, request: HttpRequest, obj: Bot, form: Any, change: bool) -> None:
        """A change is saved as the API saves one (`services.bot_config_saved`, in the admin's
        transaction): an event naming the fields, and a running bot's runner told to apply its
        live settings (a stop-loss set while it runs protects it at once)."""
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        fields = {f.name for f in obj._meta.concrete_fields}
        changes = {
            name: form.cleaned_data.get(name) for name in form.changed_data if name in fields
        }
        if change and changes:
            services.bot_config_saved(obj, changes, actor=request.user.get_username())

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The admin's delete goes the API's way (`services.bot_delete`): a bot that is not
        stopped stays, and the page says so."""
        bot = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        refusal = None if bot is None else services.bot_delete_refusal(bot)
        if refusal is not None:
            messages.error(request, refusal)
            opts = bot._meta
            return redirect(f"admin:{opts.app_label}_{opts.model_name}_change", bot.pk)
        return super().delete_view(request, object_id, extra_context)  # type: ignore[misc,no-any-return]

    @admin.action(description=gettext_lazy("Delete selected %(verbose_name_plural)s"),
                  permissions=["delete"])  # fmt: skip
    def delete_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        """Django's "delete selected", refused as a whole (nothing deleted) when any of the
        selection is not stopped."""
        refusals = [r for bot in queryset if (r := services.bot_delete_refusal(bot)) is not None]
        for refusal in refusals:
            messages.error(request, refusal)
        return None if refusals else django_delete_selected(self, request, queryset)  # type: ignore[arg-type]

    def delete_model(self, request: HttpRequest, obj: Bot) -> None:
        self.delete_queryset(request, [obj])

    def delete_queryset(self, request: HttpRequest, queryset: Iterable[Bot]) -> None:
        for bot in queryset:
            try:
                services.bot_delete(bot, actor=request.user.get_username())
            except services.BotActionRefused as exc:  # started between the page and the post
                messages.error(request, str(exc))

    def has_control_permission(self, request: HttpRequest) -> bool:
        """Lifecycle actions need `bots.control_bot` (the operator role), not just staff."""
        return bool(request.user.has_perm(permissions.CONTROL))

    def _act(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        call: Callable[..., object],
        done: str,
        refused: tuple[type[Exception], ...] = (services.BotActionRefused,),
        audit_kind: str = "",
    ) -> None:
        """`call(bot, actor=...)` for every selected bot, audited; one message per refusal."""
        actor = request.user.get_username()
        kind = audit_kind or f"bot_{getattr(call, '__name__', 'action').removeprefix('bot_')}"

        def act(bot: Bot) -> None:
            call(bot, actor=actor)
            audit.record(request, kind, done, target=bot)

        each(request, queryset.select_related(*self.list_select_related), act, refused, done)
