"""Staff views of the ledger: job list with filters and search, detail with the event timeline.

Everything shown that a user could have typed (arguments, errors, labels) goes through
format_html or auto-escaping templates; nothing is marked safe.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import dramatiq
from django.contrib import admin
from django.contrib.contenttypes.admin import GenericTabularInline
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django_dramatiq.models import Task

from .models import Job, JobEvent, JobStatus

# django-dramatiq's Task admin renders message data with mark_safe (stored XSS) and its Task
# table is not our ledger: never expose it.
if admin.site.is_registered(Task):
    admin.site.unregister(Task)

STATUS_COLORS = {
    JobStatus.PENDING: "#6b7280",
    JobStatus.QUEUED: "#2563eb",
    JobStatus.RUNNING: "#7c3aed",
    JobStatus.RETRYING: "#d97706",
    JobStatus.SUCCEEDED: "#15803d",
    JobStatus.FAILED: "#dc2626",
    JobStatus.SKIPPED: "#9ca3af",
    JobStatus.CANCELLED: "#4b5563",
}


def status_badge(job: Job) -> str:
    return format_html(
        '<span class="job-status" style="background:{};color:#fff;padding:2px 8px;'
        'border-radius:10px;font-weight:600;white-space:nowrap">{}</span>',
        STATUS_COLORS.get(JobStatus(job.status), "#6b7280"),
        job.get_status_display(),
    )


def pretty_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) > 80:
        text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html('<pre class="job-json">{}</pre>', text)


def about_link(job: Job) -> str:
    content_type = job.about_type
    if content_type is None:
        return job.about_label or "—"
    try:
        url = reverse(
            f"admin:{content_type.app_label}_{content_type.model}_change", args=[job.about_id]
        )
    except NoReverseMatch:
        return job.about_label
    return format_html('<a href="{}">{}</a>', url, job.about_label or job.about_id)


class ActorFilter(admin.SimpleListFilter):
    """Choices come from the actors this process knows, not a DISTINCT scan of the table."""

    title = "actor"
    parameter_name = "actor_name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in sorted(dramatiq.get_broker().actors)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        return queryset.filter(actor_name=self.value()) if self.value() else queryset


class QueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue_name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in sorted(dramatiq.get_broker().get_declared_queues())]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        return queryset.filter(queue_name=self.value()) if self.value() else queryset


class ReadOnlyInlineMixin:
    """Inlines that show history; nothing in them is edited from the admin."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("jobs.view_job")


class JobEventInline(ReadOnlyInlineMixin, admin.TabularInline):
    """The job's history as one timeline table (auto-escaped template, no per-row headers)."""

    model = JobEvent
    template = "admin/jobs/job/timeline.html"
    verbose_name_plural = "Timeline"
    fields = ("at", "kind", "attempt", "worker", "eta", "message")
    readonly_fields = fields


class JobsAboutInline(ReadOnlyInlineMixin, GenericTabularInline):
    """The jobs about an object, for the admin pages of other apps (users, reports)."""

    model = Job
    ct_field = "about_type"
    ct_fk_field = "about_id"
    verbose_name_plural = "Jobs"
    fields = ("job", "status_display", "actor_name", "attempts", "created_at", "last_error")
    readonly_fields = fields
    ordering = ("-created_at",)

    @admin.display(description="job")
    def job(self, job: Job) -> str:
        url = reverse("admin:jobs_job_change", args=[job.pk])
        return format_html('<a href="{}">{}</a>', url, str(job.pk)[:8])

    @admin.display(description="status")
    def status_display(self, job: Job) -> str:
        return status_badge(job)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "short_id",
        "status_display",
        "actor_name",
        "queue_name",
        "attempts_display",
        "created_at",
        "duration_display",
        "about_display",
    )
    list_display_links = ("short_id",)
    list_filter = ("status", ActorFilter, QueueFilter, "created_at")
    list_select_related = ("about_type",)
    search_fields = ("actor_name", "about_label")
    search_help_text = (
        "Job id, actor, what it is about, or any text in its arguments "
        "(an email address finds its jobs)."
    )
    # Counting the whole table is a full scan at scale; the filtered count is enough.
    show_full_result_count = False
    list_per_page = 50
    inlines = (JobEventInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "status_display",
                    "actor_name",
                    "queue_name",
                    "attempts_display",
                    "about_display",
                    "caused_by",
                    "last_error",
                )
            },
        ),
        (
            "Timing",
            {
                "fields": (
                    "created_at",
                    "queued_at",
                    "started_at",
                    "finished_at",
                    "next_eta",
                    "duration_display",
                )
            },
        ),
        ("Worker", {"fields": ("worker", "delivery_id")}),
        ("Arguments and result", {"fields": ("args_display", "kwargs_display", "result_display")}),
    )
    readonly_fields = (
        "id",
        "status_display",
        "actor_name",
        "queue_name",
        "attempts_display",
        "about_display",
        "caused_by",
        "last_error",
        "created_at",
        "queued_at",
        "started_at",
        "finished_at",
        "next_eta",
        "duration_display",
        "worker",
        "delivery_id",
        "args_display",
        "kwargs_display",
        "result_display",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Job], search_term: str
    ) -> tuple[QuerySet[Job], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(pk=uuid.UUID(term)), False
        except ValueError:
            pass
        return (
            queryset.filter(
                Q(actor_name__icontains=term)
                | Q(about_label__icontains=term)
                | Q(args__icontains=term)
                | Q(kwargs__icontains=term)
            ),
            False,
        )

    @admin.display(description="job", ordering="id")
    def short_id(self, job: Job) -> str:
        return str(job.pk)[:8]

    @admin.display(description="status", ordering="status")
    def status_display(self, job: Job) -> str:
        return status_badge(job)

    @admin.display(description="attempts", ordering="attempts")
    def attempts_display(self, job: Job) -> str:
        if job.max_retries is None:
            return str(job.attempts)
        return f"{job.attempts} / {job.max_retries + 1}"

    @admin.display(description="duration", ordering="duration")
    def duration_display(self, job: Job) -> str:
        if job.duration is None:
            return "—"
        seconds = job.duration.total_seconds()
        return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"

    @admin.display(description="about")
    def about_display(self, job: Job) -> str:
        return about_link(job)

    @admin.display(description="args")
    def args_display(self, job: Job) -> str:
        return pretty_json(job.args)

    @admin.display(description="kwargs")
    def kwargs_display(self, job: Job) -> str:
        return pretty_json(job.kwargs)

    @admin.display(description="result")
    def result_display(self, job: Job) -> str:
        return pretty_json(job.result) if job.result is not None else "—"
