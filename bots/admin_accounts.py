"""The exchange accounts' admin: connection, identity, write-only keys and their key mode.

Keys are write-only (bots.forms); in the "remember, locked" mode the unlock action asks for the
passphrase on a page of its own and keeps the decrypted key only in this process's memory
(lighterweb.keyring), from where it is handed, sealed, to the bots workers
(bots.engine.key_handoff). Every key change, unlock and lock is audited (names, never values).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.decorators import method_decorator
from django.utils.safestring import SafeString
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from bots import admin_jobs, permissions, services
from bots.admin_helpers import badge
from bots.forms import SECRET_POST_FIELDS, ExchangeAccountAdminForm
from bots.models import ExchangeAccount, KeyMode
from bots.tasks import admin_account_job_task
from lighterweb import audit
from lighterweb.crypto import WrongPassphrase

logger = logging.getLogger(__name__)
SESSION_JOBS = "lighterweb_admin_jobs"
MAX_SESSION_JOBS = 20


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ExchangeAccountAdminForm
    list_display = [
        "name",
        "network",
        "account_index",
        "api_key_index",
        "tier",
        "keys",
        "connection",
    ]
    list_filter = ["network", "tier", "key_mode"]
    search_fields = ["name", "l1_address"]
    readonly_fields = [
        "endpoint",
        "next_client_order_index",
        "last_checked_at",
        "last_error",
        "last_check_summary",
        "dead_mans_switch_armed_until",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "network", "tier", "endpoint"]}),
        (
            "Dead-man's switch",
            {"fields": ["dead_mans_switch", "dead_mans_switch_armed_until"]},
        ),
        ("Identity", {"fields": ["l1_address", "account_index", "api_key_index"]}),
        (
            "Keys (write-only, encrypted at rest)",
            {
                "fields": [
                    "key_mode",
                    "api_private_key",
                    "unlock_passphrase",
                    "eth_private_key",
                    "clear_eth_private_key",
                ]
            },
        ),
        (
            "Advanced",
            {"classes": ["collapse"], "fields": ["base_url_override", "chain_id_override"]},
        ),
        (
            "Last check",
            {
                "fields": [
                    "last_checked_at",
                    "last_error",
                    "last_check_summary",
                    "next_client_order_index",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    actions = [
        "test_connection", "look_up_account_index", "sync_markets", "unlock_key", "lock_key",
        "reset_paper",
    ]  # fmt: skip

    # The forms post private keys and passphrases: error reports (debug page, mails) star them.
    @method_decorator(sensitive_post_parameters(*SECRET_POST_FIELDS))
    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.method == "GET":
            extra_context = {**(extra_context or {}), "admin_jobs": self.changelist_jobs(request)}
        return super().changelist_view(request, extra_context)

    @method_decorator(sensitive_post_parameters(*SECRET_POST_FIELDS))
    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().add_view(request, form_url, extra_context)

    @method_decorator(sensitive_post_parameters(*SECRET_POST_FIELDS))
    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(
        self, request: HttpRequest, obj: ExchangeAccount, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if change and "dead_mans_switch" in form.changed_data:
            services.account_settings_saved(obj)  # its running bots arm or abort it now
        # Locked / don't-remember: the key just typed is this process's unlocked copy.
        obj.keep_unlocked(form.cleaned_data.get("api_private_key", ""))
        if form.cleaned_data.get("api_private_key") and obj.key_mode != KeyMode.REMEMBER:
            # Sealed to the bots workers (bots.engine.key_handoff): its bots start by themselves.
            services.account_key_unlocked(obj)
        # Which keys changed, never their values.
        changed = [
            name
            for name in SECRET_POST_FIELDS
            if form.cleaned_data.get(name) and name != "unlock_passphrase"
        ]
        if form.cleaned_data.get("clear_eth_private_key"):
            changed.append("eth_private_key (removed)")
        if changed:
            audit.record(request, "key_changed", ", ".join(changed), target=obj)

    @admin.display(description="Endpoint")
    def endpoint(self, obj: ExchangeAccount) -> str:
        return f"{obj.base_url} (chain {obj.chain_id})" if obj.pk else "-"

    @admin.display(description="Keys")
    def keys(self, obj: ExchangeAccount) -> SafeString:
        if obj.is_locked:
            return badge("warning", f"locked ({obj.key_mode})")
        return badge("ok", "API key set") if obj.has_api_private_key else badge("never", "no key")

    @admin.display(description="Connection", ordering="last_checked_at")
    def connection(self, obj: ExchangeAccount) -> SafeString:
        if obj.last_checked_at is None:
            return badge("never", "not checked")
        return badge("failed", "failed") if obj.last_error else badge("ok", "ok")

    @admin.action(
        description="Test connection (key, balance, positions, open orders)",
        permissions=["change"],
    )
    def test_connection(self, request: HttpRequest, queryset: QuerySet[ExchangeAccount]) -> None:
        for account in queryset:
            if admin_jobs.runs_in_worker("test_connection", account):
                self._queue(request, "test_connection", account)
                continue
            # A key that is not stored lives only in this process: checked here, as before.
            try:
                report = services.account_test_connection(account)
            except services.ExchangeActionFailed as exc:
                messages.error(request, f"{account}: {exc}")
            else:
                messages.success(request, f"{account}: connection ok: {report.summary}")

    @admin.action(description="Look up account index from L1 address", permissions=["change"])
    def look_up_account_index(
        self, request: HttpRequest, queryset: QuerySet[ExchangeAccount]
    ) -> None:
        for account in queryset:
            self._queue(request, "look_up_account_index", account)

    @admin.action(description="Sync markets from the exchange", permissions=["change"])
    def sync_markets(self, request: HttpRequest, queryset: QuerySet[ExchangeAccount]) -> None:
        for account in queryset:
            self._queue(request, "sync_markets", account)

    # -- exchange actions on a worker (bots.admin_jobs) ------------------------------------------

    def _queue(self, request: HttpRequest, action: str, account: ExchangeAccount) -> None:
        """Queue `action` on the default worker; the changelist follows it."""
        try:
            job = admin_jobs.job_start(action, account, admin_account_job_task.delay)
        except (RedisError, KombuError, OSError) as exc:
            logger.warning("admin job %s on account %s not queued: %s", action, account.pk, exc)
            messages.error(request, f"{account}: could not queue the action (Redis unreachable).")
            return
        jobs = [job.id, *request.session.get(SESSION_JOBS, [])][:MAX_SESSION_JOBS]
        request.session[SESSION_JOBS] = jobs
        messages.info(request, f"{account}: {job.title} queued; its progress shows below.")

    def get_urls(self) -> list[Any]:
        jobs = path(
            "jobs/",
            self.admin_site.admin_view(self.jobs_view),
            name="bots_exchangeaccount_jobs",
        )
        return [jobs, *super().get_urls()]

    def jobs_view(self, request: HttpRequest) -> JsonResponse:
        """The states of this session's queued actions (only its own: ids from the session)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        found = admin_jobs.job_states(request.session.get(SESSION_JOBS, []))
        keys = ("id", "title", "account", "state", "message")
        return JsonResponse({"jobs": [{k: getattr(job, k) for k in keys} for job in found]})

    def changelist_jobs(self, request: HttpRequest) -> list[admin_jobs.Job]:
        """This session's unfinished jobs; the finished ones become messages (once)."""
        try:
            found = admin_jobs.job_states(request.session.get(SESSION_JOBS, []))
        except RedisError as exc:
            logger.warning("admin jobs unreadable: %s", exc)
            return []
        for job in found:
            if job.state == admin_jobs.DONE:
                messages.success(request, f"{job.account}: {job.title}: {job.message}.")
            elif job.state == admin_jobs.FAILED:
                messages.error(request, f"{job.account}: {job.title} failed: {job.message}")
        pending = [job for job in found if not job.finished]
        request.session[SESSION_JOBS] = [job.id for job in pending]
        return pending

    @admin.action(
        description="Reset paper account (venue and paper bots' books, together)",
        permissions=["change"],
    )
    def reset_paper(
        self, request: HttpRequest, queryset: QuerySet[ExchangeAccount]
    ) -> TemplateResponse | None:
        if queryset.exclude(network="paper").exists():
            messages.error(request, "Only paper accounts can be reset; nothing was changed.")
            return None
        if request.POST.get("confirm") != "reset":
            # Nothing happens until the operator confirms on this page.
            context = {
                **self.admin_site.each_context(request),
                "title": "Reset the paper venue",
                "accounts": list(queryset),
                "action": "reset_paper",
                "opts": self.opts,
            }
            return TemplateResponse(request, "admin/bots/reset_paper.html", context)
        try:
            report = services.paper_reset(actor=request.user.get_username())
        except services.PaperResetRefused as exc:
            messages.error(request, f"Paper reset refused: {exc}")
            return None
        audit.record(request, "paper_reset", f"{report.orders} orders, {report.fills} fills")
        messages.success(
            request,
            f"Paper venue reset; {report.orders} orders, {report.fills} fills and "
            f"{report.funding_payments} funding payments removed from {report.bots} paper bots.",
        )
        return None

    def has_unlock_permission(self, request: HttpRequest) -> bool:
        """Unlocking an account's key needs `bots.unlock_account` (the admin role)."""
        return bool(request.user.has_perm(permissions.UNLOCK_ACCOUNT))

    @admin.action(description="Unlock the key (asks for its passphrase)", permissions=["unlock"])
    @sensitive_variables()
    def unlock_key(
        self, request: HttpRequest, queryset: QuerySet[ExchangeAccount]
    ) -> TemplateResponse | None:
        locked = [account for account in queryset if account.key_mode == KeyMode.LOCKED]
        if not locked:
            messages.error(request, "None of these accounts keeps a passphrase-locked key.")
            return None
        passphrase = request.POST.get("unlock_passphrase", "")
        if not passphrase:
            # First the page asking for the passphrase; it posts back to this action.
            context = {
                **self.admin_site.each_context(request),
                "title": "Unlock exchange keys",
                "accounts": locked,
                "queryset": queryset,
                "opts": self.opts,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/bots/exchangeaccount/unlock.html", context)
        for account in locked:
            try:
                account.unlock(passphrase)
            except WrongPassphrase:
                audit.record(request, "unlock_failed", "wrong passphrase", target=account)
                messages.error(request, f"{account}: wrong passphrase, still locked.")
            else:
                workers = services.account_key_unlocked(account)
                audit.record(
                    request,
                    "key_unlocked",
                    f"held in the web process, sealed for {workers} bots worker(s)",
                    target=account,
                )
                messages.success(
                    request,
                    f"{account}: unlocked; handed (sealed) to {workers} bots worker(s) now, "
                    "and to workers that start later while this web process runs.",
                )
        return None

    @admin.action(
        description="Lock the key again (web and bots workers forget it)", permissions=["unlock"]
    )
    def lock_key(self, request: HttpRequest, queryset: QuerySet[ExchangeAccount]) -> None:
        for account in queryset:
            if account.key_mode != KeyMode.REMEMBER:
                bots = services.account_key_lock(account)
                audit.record(
                    request,
                    "key_locked",
                    f"unlocked copies dropped (web and bots workers); {len(bots)} bots told",
                    target=account,
                )
        messages.success(
            request, "Locked: running bots cancel their orders and wait in 'locked' for an unlock."
        )
