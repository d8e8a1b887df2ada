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
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from dramatiq.errors import ActorNotFound

from jobs.admin.jobs import status_badge
from jobs.admin.lookups import DeclaredLookupsOnly
from jobs.brokers.setup import import_actor_modules
from jobs.ledger.known import known_actors, known_queues
from jobs.models import AlertDelivery, AlertIncident, AlertRule, Job, Schedule
from jobs.schedules import scheduler
from jobs.schedules.timing import in_words, valid_cron

HISTORY = 10

#: What each schedule's page offers, asked before it is done: (verb, permission, what it does).
ONE_SCHEDULE = {
    "run-now": (
        "Run now",
        "run",
        "One extra run of its actor now, outside the timing; the timing is not changed.",
    ),
    "pause": ("Pause", "change", "No run until it is resumed; instants meanwhile are skipped."),
    "resume": (
        "Resume",
        "change",
        "Runs again from its next instant; the instants missed while paused are not run.",
    ),
}


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class ScheduleForm(forms.ModelForm[Schedule]):
    time_zone = forms.ChoiceField(choices=time_zone_choices)

    class Meta:
        model = Schedule
        fields = ("cron", "interval", "time_zone", "args", "kwargs", "paused")

    def clean_cron(self) -> str:
        cron = str(self.cleaned_data.get("cron") or "").strip()
        if cron and not valid_cron(cron):
            raise forms.ValidationError("Not a cron expression (e.g. '*/5 * * * *').")
        return cron

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
        if "cron" in self.errors or "interval" in self.errors:
            return data  # that field's own error says it: not a second one here
        cron, interval = data.get("cron"), data.get("interval")
        if bool(cron) == (interval is not None):
            raise forms.ValidationError("Give a cron expression or an interval (one of them).")
        if interval is not None and interval < dt.timedelta(seconds=1):
            self.add_error("interval", "At least one second.")
        return data


@admin.register(Schedule)
class ScheduleAdmin(DeclaredLookupsOnly, admin.ModelAdmin[Schedule]):
    form = ScheduleForm
    list_display = ("name", "when", "next_run", "last_run", "state", "actor_name")
    list_filter = ("paused", "overridden", "declared_in_code")
    search_fields = ("name", "actor_name")
    actions = ("run_now", "pause", "resume", "reset_to_declaration")
    readonly_fields = (
        "name",
        "actor_name",
        "when",
        "state",
        "next_run",
        "last_run",
        "declaration",
        "history",
    )
    fieldsets = (
        (None, {"fields": ("name", "actor_name", "when", "state", "next_run", "last_run")}),
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

    @admin.display(description="next run", ordering="next_run_at")
    def next_run(self, schedule: Schedule) -> str:
        if schedule.paused:
            return "— (paused: the next run is counted from when it resumes)"
        if schedule.next_run_at is None:
            return "—"
        return f"{schedule.next_run_at:%Y-%m-%d %H:%M:%S %Z}"

    @admin.display(description="last run")
    def last_run(self, schedule: Schedule) -> str:
        """The last job run for an instant, with that job's own instant (its key names it):
        `last_instant` moves on when the timing changes, the job does not."""
        job = schedule.last_job
        if job is None:
            return "—"
        url = reverse("admin:jobs_job_change", args=[job.pk])
        at = scheduler.instant_of(job) or job.enqueued_at
        return format_html(
            '<a href="{}">{}</a> {}', url, f"{at:%Y-%m-%d %H:%M:%S %Z}", status_badge(job)
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
        resumed = "paused" in form.changed_data and not obj.paused
        if timing or resumed:  # from now: no run for the instants of the old timing or the pause
            scheduler.reset_timing(obj)
        obj.overridden = scheduler.differs_from_declaration(obj)
        super().save_model(request, obj, form, change)

    # --- actions (each one in the admin history), on the list and on each schedule's page ------

    def get_urls(self) -> list[Any]:
        confirm = path(
            "<path:object_id>/do/<slug:what>/",
            self.admin_site.admin_view(self.one_schedule_view),
            name="jobs_schedule_one",
        )
        return [confirm, *super().get_urls()]

    def one_schedule_view(self, request: HttpRequest, object_id: str, what: str) -> HttpResponse:
        """Run now, pause or resume one schedule: a page that asks, then the POST that does."""
        schedule = self.get_object(request, object_id)
        if schedule is None or what not in ONE_SCHEDULE:
            raise Http404
        verb, permission, explanation = ONE_SCHEDULE[what]
        if not getattr(self, f"has_{permission}_permission")(request):
            raise PermissionDenied
        change_url = reverse("admin:jobs_schedule_change", args=[schedule.pk])
        if request.method == "POST":
            getattr(self, what.replace("-", "_"))(request, Schedule.objects.filter(pk=schedule.pk))
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{verb}: {schedule}?",
            "opts": Schedule._meta,
            "original": schedule,
            "verb": verb,
            "explanation": explanation,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/jobs/schedule/confirm.html", context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        schedule = self.get_object(request, object_id)
        buttons = []
        if schedule is not None:
            for what, (verb, permission, _) in ONE_SCHEDULE.items():
                if what == ("resume" if not schedule.paused else "pause"):
                    continue
                if getattr(self, f"has_{permission}_permission")(request):
                    url = reverse("admin:jobs_schedule_one", args=[schedule.pk, what])
                    buttons.append({"url": url, "verb": verb, "name": what})
        context = {**(extra_context or {}), "schedule_actions": buttons}
        return super().change_view(request, object_id, form_url, context)

    @admin.action(permissions=["run"], description="Run now (an extra run, outside the timing)")
    def run_now(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for schedule in queryset:
            try:
                job = scheduler.run_now(schedule, operator=request.user)
            except ActorNotFound:
                import_actor_modules()  # this web process may not have imported it yet
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


def notice_state(notice: AlertDelivery) -> str:
    if notice.delivered_at:
        return (
            f"{notice.get_channel_display()} {notice.change}: sent {notice.delivered_at:%H:%M:%S}"
        )
    if not notice.attempts:
        return f"{notice.get_channel_display()} {notice.change}: to send"
    return (
        f"{notice.get_channel_display()} {notice.change}: FAILING, {notice.attempts} attempt(s), "
        f"next at {notice.next_attempt_at:%H:%M:%S}: {notice.last_error}"
    )


class IncidentInline(admin.TabularInline[AlertIncident, AlertRule]):
    model = AlertIncident
    fields = ("opened_at", "resolved_at", "message", "notices")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-opened_at",)

    @admin.display(description="notices")
    def notices(self, incident: AlertIncident) -> str:
        return format_html_join(
            "", "<div>{}</div>", ((notice_state(n),) for n in incident.deliveries.all())
        )


def named(names: list[str], current: str, empty: str) -> list[tuple[str, str]]:
    """Choices of `names`, with the value already stored even if nothing carries it now."""
    return [("", empty), *((name, name) for name in sorted({*names, current} - {""}))]


class AlertRuleForm(forms.ModelForm[AlertRule]):
    """Queues, actors and schedules to choose from: those the ledger knows."""

    NEEDS = {AlertRule.Kind.QUEUE_WAIT: "queue_name", AlertRule.Kind.FAILURE_RATE: "actor_name"}
    webhook_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text=AlertRule._meta.get_field("webhook_url").help_text,
    )

    class Meta:
        model = AlertRule
        fields = (
            "name",
            "kind",
            "threshold",
            "queue_name",
            "actor_name",
            "schedule_name",
            "emails",
            "webhook_url",
            "enabled",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rule = self.instance
        schedules = list(Schedule.objects.values_list("name", flat=True))
        for name, names, empty in (
            ("queue_name", known_queues(), "—"),
            ("actor_name", known_actors(), "—"),
            ("schedule_name", schedules, "any schedule"),
        ):
            field = self.fields[name]
            self.fields[name] = forms.ChoiceField(
                choices=named(names, getattr(rule, name), empty),
                required=False,
                help_text=field.help_text,
                label=field.label,
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        needed = self.NEEDS.get(data.get("kind", ""))
        if needed and not data.get(needed):
            self.add_error(needed, "This kind of rule needs one.")
        return data


@admin.register(AlertRule)
class AlertRuleAdmin(DeclaredLookupsOnly, admin.ModelAdmin[AlertRule]):
    form = AlertRuleForm
    list_display = ("name", "kind", "threshold", "enabled", "firing", "channel_health")
    list_filter = ("kind", "enabled")
    readonly_fields = ("channel_health",)
    inlines = (IncidentInline,)

    @admin.display(description="firing now", boolean=True)
    def firing(self, rule: AlertRule) -> bool:
        return rule.incidents.filter(resolved_at__isnull=True).exists()

    @admin.display(description="channels")
    def channel_health(self, rule: AlertRule) -> str:
        """Each channel's latest notice: a failing one with its attempts and error."""
        latest: dict[str, AlertDelivery] = {}
        for notice in AlertDelivery.objects.filter(incident__rule=rule).order_by("created_at"):
            latest[notice.channel] = notice
        if not latest:
            return "no notice sent yet"
        return format_html_join("", "<div>{}</div>", ((notice_state(n),) for n in latest.values()))
