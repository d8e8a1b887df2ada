"""Staff views of the ledger: job list with filters and search, detail with the event timeline,
the operator actions (jobs/admin/actions.py) and the dashboard (jobs/admin/dashboard.py).

Everything shown that a user could have typed (arguments, errors, labels) goes through
format_html or auto-escaping templates; nothing is marked safe. Arguments and results are shown
only to users with the `view_job_payload` permission.
"""

from __future__ import annotations

import json
import re
import uuid
from contextvars import ContextVar
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.contenttypes.admin import GenericTabularInline
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join

from jobs.admin import dashboard
from jobs.admin.actions import JobActionsMixin
from jobs.admin.lookups import DeclaredLookupsOnly
from jobs.admin.pagination import CappedCountPaginator, LimitedChangeList
from jobs.ledger.history import timeline
from jobs.ledger.known import known_actors, known_queues
from jobs.ledger.redaction import hide_argument_values
from jobs.ledger.results import shown_result
from jobs.models import Job, JobStatus


def status_badge(job: Job) -> str:
    """Coloured by class (jobs/static/jobs/admin.css): the CSP forbids inline styles."""
    return format_html(
        '<span class="job-status job-status-{}">{}</span>', job.status, job.get_status_display()
    )


EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
#: A job id as pasted: whole, or its start as the list shows it (8 characters), dashes or not.
ID_START = re.compile(r"[0-9a-f]{8,32}", re.I)


def job_id_range(term: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The ids starting with `term` (at least the 8 characters the list shows), as a range of
    the primary key: lowest and highest id with that start."""
    digits = term.replace("-", "")
    if not ID_START.fullmatch(digits):
        return None
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


#: Query parameters the changelist shows by itself (sidebar filters, search, order, page).
SIDEBAR_PARAMS = frozenset(
    {"q", "o", "p", "all", "e", "_changelist_filters", "_to_field", "_popup"}
    | {"status__exact", "actor_name", "queue_name"}
)


def can_view_payload(request: HttpRequest) -> bool:
    """Arguments and results may hold personal data: a permission of their own."""
    return request.user.has_perm("jobs.view_job_payload")


#: The request being answered, for display methods (Django passes them only the row); set by
#: each view before it renders. A context variable: admin instances are shared by all threads.
viewer: ContextVar[HttpRequest] = ContextVar("viewer")


def visible_error(request: HttpRequest, job: Job, text: str) -> str:
    """An error or traceback as this staff member may read it: argument values inside it are
    hidden from those who may not see arguments (the one rule for the list, page and timeline)."""
    return text if can_view_payload(request) else hide_argument_values(text, job.args, job.kwargs)


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
    """Every actor the ledger knows (jobs/ledger/known.py), not only those this process imported."""

    title = "actor"
    parameter_name = "actor_name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in known_actors()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        return queryset.filter(actor_name=self.value()) if self.value() else queryset


class QueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue_name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in known_queues()]

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


class JobsAboutInline(ReadOnlyInlineMixin, GenericTabularInline):
    """The jobs about an object, for the admin pages of other apps (users, reports)."""

    model = Job
    ct_field = "about_type"
    ct_fk_field = "about_id"
    verbose_name_plural = "Jobs"
    fields = ("job", "status_display", "actor_name", "attempts", "enqueued_at", "error")
    readonly_fields = fields
    ordering = ("-enqueued_at",)

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        viewer.set(request)
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="last error")
    def error(self, job: Job) -> str:
        return visible_error(viewer.get(), job, job.last_error)

    @admin.display(description="job")
    def job(self, job: Job) -> str:
        url = reverse("admin:jobs_job_change", args=[job.pk])
        return format_html('<a href="{}">{}</a>', url, str(job.pk)[:8])

    @admin.display(description="status")
    def status_display(self, job: Job) -> str:
        return status_badge(job)


@admin.register(Job)
class JobAdmin(DeclaredLookupsOnly, JobActionsMixin, admin.ModelAdmin[Job]):
    # The error beside the status, what staff scan a list of failures for: at the end it fell
    # off a 1280 px screen (tests/browser/test_operator_pages_in_a_browser.py).
    list_display = (
        "short_id",
        "status_display",
        "actor_name",
        "error_display",
        "attempts_display",
        "enqueued_at",
        "duration_display",
        "about_display",
        "queue_name",
        "next_eta",
    )
    list_display_links = ("short_id",)
    list_filter = ("status", ActorFilter, QueueFilter, "enqueued_at")
    # The dashboard's links (jobs/admin/dashboard.py); never a payload field (args, kwargs,
    # result, errors): filtering by one would read it to those who may not see it.
    linked_lookups = frozenset(
        {"status__in", "enqueued_at__lt", "sent_at__lt", "started_at__lt", "next_eta__lt"}
        | {"finished_at__gte", "finished_at__lt", "attempts__lte", "attempts__gt"}
        | {"worker_id__in", "error_group"}
    )
    list_select_related = ("about_type",)
    search_fields = ("actor_name", "about_label")
    search_help_text = (
        "A job id (whole, or the 8 characters shown), a request id, an email address, an "
        "actor, or a piece of an error message."
    )
    # Counting the whole table is a full scan at scale: counts stop at 10,000 (admin/pagination.py).
    show_full_result_count = False
    paginator = CappedCountPaginator
    # Facet counts run one COUNT per filter choice on every page view.
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
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
                    "copy_of",
                    "copies_display",
                    "request_id",
                    "unique_key",
                    "duplicates",
                    "last_error_display",
                )
            },
        ),
        (
            "Timing",
            {
                "fields": (
                    "enqueued_at",
                    "sent_at",
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
    # Everything shown is read-only (jobs are never edited here): one list, from the fieldsets.
    readonly_fields = tuple(flatten_fieldsets(fieldsets))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        viewer.set(request)
        fieldsets = list(super().get_fieldsets(request, obj))
        if not can_view_payload(request):
            fieldsets[-1] = ("Arguments and result", {"fields": ("payload_hidden",)})
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*super().get_readonly_fields(request, obj), "payload_hidden")

    def get_urls(self) -> list[Any]:
        dashboard_url = path(
            "dashboard/",
            self.admin_site.admin_view(self.dashboard_view),
            name="jobs_job_dashboard",
        )
        return [dashboard_url, *self.action_urls(), *super().get_urls()]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        snapshot = dashboard.snapshot()
        if request.GET.get("partial") == "1":
            # A refresh: the sections that changed since the page's (jobs/admin/dashboard.py).
            answer = dashboard.changed_sections(snapshot, request.GET.get("have", "")[:2000])
            return JsonResponse(answer)
        context = {
            **self.admin_site.each_context(request),
            "title": "Job dashboard",
            "opts": Job._meta,
            "snapshot": snapshot,
            "sections": dashboard.sections(snapshot),
        }
        return TemplateResponse(request, "admin/jobs/dashboard.html", context)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[LimitedChangeList]:
        return LimitedChangeList

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        viewer.set(request)
        # Filters beyond the sidebar's (e.g. from a dashboard link) are listed above the table,
        # so staff see exactly what the list is restricted to.
        extra = [(key, value) for key, value in request.GET.items() if key not in SIDEBAR_PARAMS]
        return super().changelist_view(request, {**(extra_context or {}), "extra_filters": extra})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        job = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if job is not None:
            context["job_actions"] = self.job_actions(request, job)
            context["can_delete_job"] = self.has_delete_permission(request, job)
            viewer.set(request)  # the timeline's errors, as this staff member may read them
            context["timeline"] = timeline(job)
        return super().change_view(request, object_id, form_url, context)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Job], search_term: str
    ) -> tuple[QuerySet[Job], bool]:
        """What staff paste, each through an index at any size (docs/PERFORMANCE.md): a job id
        whole or as the list shows it (its first 8 characters), a request id from a log line,
        an email (the job's subject), an argument's value (for who may see them), an error
        message's
        text (PostgreSQL: a trigram index, migration 0018; without the payload permission, the
        error groups of failed jobs), an actor's name."""
        term = search_term.strip()
        if not term:
            return queryset, False
        payload = can_view_payload(request)  # searching arguments would reveal them otherwise
        matches = Q(request_id=term)
        if id_range := job_id_range(term):
            matches |= Q(pk__gte=id_range[0], pk__lte=id_range[1])
        if EMAIL.fullmatch(term):
            # Emails are stored lowercased in the subject.
            matches |= Q(about_label=term.lower()) | Q(about_label=term)
        postgres = connection.vendor == "postgresql"
        if payload and postgres:
            # An argument equal to the term (GIN containment, migration 0003).
            matches |= Q(args__contains=[term]) | Q(args__contains=[term.lower()])
        actors = [name for name in known_actors() if term.lower() in name.lower()]
        if actors:
            matches |= Q(actor_name__in=actors)
        if len(term) >= 3 and payload:
            matches |= ~Q(last_error="") & Q(last_error__icontains=term)
        elif len(term) >= 3:
            # Error texts can hold argument values this user may not see: their groups do not
            # (values replaced by placeholders), and only failed jobs have one.
            matches |= Q(status=JobStatus.FAILED) & Q(error_group__icontains=term)
        if not postgres:
            # The embedded default's sizes: substring matches of subject and arguments, too.
            matches |= Q(about_label__icontains=term)
            if payload:
                matches |= Q(args__icontains=term) | Q(kwargs__icontains=term)
        return queryset.filter(matches), False

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

    @admin.display(description="error")
    def error_display(self, job: Job) -> str:
        if not job.last_error:
            return ""
        text = visible_error(viewer.get(), job, job.last_error)
        return format_html(
            '<span title="{}">{}</span>', text, text[:59] + "…" if len(text) > 60 else text
        )

    @admin.display(description="last error")
    def last_error_display(self, job: Job) -> str:
        return visible_error(viewer.get(), job, job.last_error)

    @admin.display(description="copies")
    def copies_display(self, job: Job) -> str:
        copies = list(job.copies.order_by("enqueued_at").values_list("pk", flat=True)[:20])
        if not copies:
            return "—"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:jobs_job_change", args=[pk]), str(pk)[:8]) for pk in copies),
        )

    @admin.display(description="arguments and result")
    def payload_hidden(self, job: Job) -> str:
        return "Hidden: seeing them needs the permission “Can view job arguments and results”."

    @admin.display(description="args")
    def args_display(self, job: Job) -> str:
        return pretty_json(job.args)

    @admin.display(description="kwargs")
    def kwargs_display(self, job: Job) -> str:
        return pretty_json(job.kwargs)

    @admin.display(description="result")
    def result_display(self, job: Job) -> str:
        if job.result is None:
            return "—"
        return pretty_json(shown_result(job.actor_name, job.result))
