"""The Schedules page: each periodic job with its timing in words, next and last run (linked to
its job), recent history, and what staff do to it: run now, pause, resume, change its timing or
arguments (stored here, taking effect at the schedulers' next tick without a restart), reset to
the code's declaration. Every change is in Django's admin history (LogEntry) with who did it.
Alert rules and their incidents live here too."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.module_loading import autodiscover_modules
from dramatiq.errors import ActorNotFound

from jobs.admin.jobs import status_badge
from jobs.admin.lookups import DeclaredLookupsOnly
from jobs.models import AlertIncident, AlertRule, Job, Schedule
from jobs.schedules import scheduler
from jobs.schedules.timing import in_words, valid_cron

HISTORY = 10


class ScheduleForm(forms.ModelForm[Schedule]):
    class Meta:
        model = Schedule
        fields = ("cron", "interval", "time_zone", "args", "kwargs", "paused")

    def clean_cron(self) -> str:
        cron = str(self.cleaned_data.get("cron") or "").strip()
        if cron and not valid_cron(cron):
            raise forms.ValidationError("Not a cron expression (e.g. '*/5 * * * *').")
        return cron

    def clean_time_zone(self) -> str:
        name = str(self.cleaned_data.get("time_zone") or "").strip()
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(f"Unknown time zone {name!r}.") from None
        return name

    def clean_args(self) -> Any:
        value = self.cleaned_data.get("args")
        if not isinstance(value, list):
            raise forms.ValidationError('A JSON list, e.g. ["nightly", 3].')
        return value

    def clean_kwargs(self) -> Any:
        value = self.cleaned_data.get("kwargs")
        if not isinstance(value, dict):
            raise forms.ValidationError('A JSON object, e.g. {"dry_run": false}.')
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        cron, interval = data.get("cron"), data.get("interval")
        if bool(cron) == (interval is not None):
            raise forms.ValidationError("Give a cron expression or an interval (one of them).")
        if interval is not None and interval < dt.timedelta(seconds=1):
            self.add_error("interval", "At least one second.")
        return data


@admin.register(Schedule)
class ScheduleAdmin(DeclaredLookupsOnly, admin.ModelAdmin[Schedule]):
    form = ScheduleForm
    list_display = ("name", "when", "next_run_at", "last_run", "state", "actor_name")
    list_filter = ("paused", "overridden", "declared_in_code")
    search_fields = ("name", "actor_name")
    actions = ("run_now", "pause", "resume", "reset_to_declaration")
    readonly_fields = (
        "name",
        "actor_name",
        "when",
        "state",
        "next_run_at",
        "last_run",
        "declaration",
        "history",
    )
    fieldsets = (
        (None, {"fields": ("name", "actor_name", "when", "state", "next_run_at", "last_run")}),
        (
            "Timing and arguments (saved here; the code's declaration stays the default)",
            {"fields": ("cron", "interval", "time_zone", "args", "kwargs", "paused")},
        ),
        ("Declared in code", {"fields": ("declaration",)}),
        ("Recent runs", {"fields": ("history",)}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # schedules are declared in code

    def has_delete_permission(self, request: HttpRequest, obj: Schedule | None = None) -> bool:
        # Only what the code no longer declares (it would come back otherwise).
        return bool(obj and not obj.declared_in_code) and super().has_delete_permission(
            request, obj
        )

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.run_schedule")

    @admin.display(description="when")
    def when(self, schedule: Schedule) -> str:
        return in_words(schedule.cron, schedule.interval, schedule.time_zone)

    @admin.display(description="state")
    def state(self, schedule: Schedule) -> str:
        parts = ["paused" if schedule.paused else "active"]
        if schedule.overridden:
            parts.append("changed from the code")
        if not schedule.declared_in_code:
            parts.append("no longer declared in code")
        return ", ".join(parts)

    @admin.display(description="last run")
    def last_run(self, schedule: Schedule) -> str:
        job = schedule.last_job
        if job is None:
            return "—"
        url = reverse("admin:jobs_job_change", args=[job.pk])
        at = schedule.last_instant or job.enqueued_at
        return format_html(
            '<a href="{}">{}</a> {}', url, f"{at:%Y-%m-%d %H:%M:%S}", status_badge(job)
        )

    @admin.display(description="declaration")
    def declaration(self, schedule: Schedule) -> str:
        if not schedule.declared:
            return "—"
        values = scheduler.declared_values(schedule.declared)
        return format_html(
            "{} → {}({}, {})",
            in_words(values["cron"], values["interval"], values["time_zone"]),
            values["actor_name"],
            values["args"],
            values["kwargs"],
        )

    @admin.display(description="recent runs")
    def history(self, schedule: Schedule) -> str:
        jobs = Job.objects.filter(about_type__model="schedule", about_id=str(schedule.pk))[:HISTORY]
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:jobs_job_change", args=[job.pk]),
                    str(job.pk)[:8],
                    status_badge(job),
                    f"{job.enqueued_at:%Y-%m-%d %H:%M:%S}",
                )
                for job in jobs
            ),
        )
        return format_html("<table>{}</table>", rows) if rows else "No runs yet."

    def get_queryset(self, request: HttpRequest) -> QuerySet[Schedule]:
        return super().get_queryset(request).select_related("last_job")

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        # The form showed secrets as "[redacted]": those keep their values, new ones are sealed.
        obj.set_arguments(list(obj.args), dict(obj.kwargs))
        timing = {"cron", "interval", "time_zone"} & set(form.changed_data)
        if timing:
            scheduler.reset_timing(obj)
        obj.overridden = scheduler.differs_from_declaration(obj)
        super().save_model(request, obj, form, change)

    # --- actions (each one in the admin history) ------------------------------------------------

    @admin.action(permissions=["run"], description="Run now (an extra run, outside the timing)")
    def run_now(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for schedule in queryset:
            try:
                job = scheduler.run_now(schedule, operator=request.user)
            except ActorNotFound:
                autodiscover_modules("tasks")  # this web process may not have imported it yet
                try:
                    job = scheduler.run_now(schedule, operator=request.user)
                except ActorNotFound:
                    self.message_user(
                        request, f"{schedule}: no actor {schedule.actor_name!r}.", messages.ERROR
                    )
                    continue
            self.log_change(request, schedule, f"Ran now as job {job.pk}.")
            self.message_user(request, f"{schedule}: job {job.pk} enqueued.")

    @admin.action(permissions=["change"], description="Pause")
    def pause(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        self._set_paused(request, queryset, True)

    @admin.action(permissions=["change"], description="Resume")
    def resume(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        self._set_paused(request, queryset, False)

    def _set_paused(self, request: HttpRequest, queryset: QuerySet[Schedule], paused: bool) -> None:
        for schedule in queryset.filter(paused=not paused):
            schedule.paused = paused
            if not paused:
                scheduler.reset_timing(schedule)  # from now: no run for the paused instants
            schedule.save(update_fields=["paused", "last_instant", "next_run_at"])
            self.log_change(request, schedule, "Paused." if paused else "Resumed.")
        self.message_user(request, f"{'Paused' if paused else 'Resumed'}: {queryset.count()}.")

    @admin.action(permissions=["change"], description="Reset to the code's declaration")
    def reset_to_declaration(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for schedule in queryset.filter(overridden=True):
            declared = scheduler.declaration_of(schedule.name)
            if declared is None:
                message = f"{schedule}: the code no longer declares it; nothing to reset to."
                self.message_user(request, message, messages.ERROR)
                continue
            scheduler.apply_declaration(schedule, declared)
            schedule.overridden = False
            scheduler.reset_timing(schedule)
            schedule.save()
            self.log_change(request, schedule, "Reset to the code's declaration.")
        self.message_user(request, "Reset to the code's declaration.")


class IncidentInline(admin.TabularInline[AlertIncident, AlertRule]):
    model = AlertIncident
    fields = ("opened_at", "resolved_at", "message", "notified_open", "notified_resolved")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-opened_at",)


@admin.register(AlertRule)
class AlertRuleAdmin(DeclaredLookupsOnly, admin.ModelAdmin[AlertRule]):
    list_display = ("name", "kind", "threshold", "enabled", "firing")
    list_filter = ("kind", "enabled")
    inlines = (IncidentInline,)

    @admin.display(description="firing now", boolean=True)
    def firing(self, rule: AlertRule) -> bool:
        return rule.incidents.filter(resolved_at__isnull=True).exists()
