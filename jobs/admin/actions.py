"""Staff actions on jobs in the admin: retry, run again, cancel, delete.

Each works on one job (buttons on its page), a selection, or everything the current filter
matches (Django's "select all"). Bulk actions show a confirmation page first with the count and
a breakdown by actor and status; permissions are checked on the server for every request.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from jobs.admin import bulk as operations
from jobs.models import Job, JobStatus


@dataclass(frozen=True)
class Action:
    """One operator action: which jobs it applies to and what it does to them."""

    name: str
    verb: str
    permission: str
    allowed: frozenset[JobStatus] | None
    """Statuses it applies to (None: any)."""
    explanation: str


RETRY = Action(
    "retry",
    "Retry",
    "retry",
    JobStatus.retryable(),
    "The same job runs again: same id, attempts counted from one again, its history kept.",
)
RUN_AGAIN = Action(
    "run_again",
    "Run again as new job",
    "retry",
    None,
    "A new job with the same arguments, linked to the original, which stays as it is.",
)
RUN_NOW = Action(
    "run_now",
    "Run now",
    "retry",
    frozenset({JobStatus.SCHEDULED}),
    "Scheduled jobs are sent now instead of at their due time; the delayed copy is skipped.",
)
CANCEL = Action(
    "cancel",
    "Cancel",
    "cancel",
    JobStatus.cancellable(),
    "Pending, queued, scheduled and retrying jobs are cancelled; a worker that receives one "
    "skips it.",
)
DELETE = Action(
    "delete",
    "Delete",
    "delete",
    JobStatus.final(),
    "Finished jobs are deleted with their history. Unfinished jobs are left alone.",
)


class JobActionsMixin:
    """The actions of JobAdmin (a ModelAdmin)."""

    actions: Any = ("retry_jobs", "run_now_jobs", "run_again_jobs", "cancel_jobs", "delete_jobs")

    # --- permissions (Django's: assignable to groups) ----------------------------------------

    def has_retry_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return request.user.has_perm("jobs.retry_job")

    def has_cancel_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return request.user.has_perm("jobs.cancel_job")

    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        if obj is not None and not obj.is_final:
            return False  # a running or waiting job is cancelled first
        return request.user.has_perm("jobs.delete_job")

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # Django 6.1 says where the actions show (the list or a change form); 5.2 has the list only.
        where = {} if action_location is None else {"action_location": action_location}
        found: dict[str, Any] = super().get_actions(request, **where)  # type: ignore[misc]
        # Django's own delete lists every object and its events on one page: unusable at scale.
        found.pop("delete_selected", None)
        return found

    # --- bulk actions: selection or the whole filter ------------------------------------------

    @admin.action(permissions=["retry"], description="Retry failed jobs (same job)")
    def retry_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> HttpResponse | None:
        return self._bulk(
            request,
            queryset,
            RETRY,
            lambda jobs: operations.retry(jobs, operator=request.user),
        )

    @admin.action(permissions=["retry"], description="Run scheduled jobs now")
    def run_now_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> HttpResponse | None:
        return self._bulk(
            request,
            queryset,
            RUN_NOW,
            lambda jobs: operations.run_now(jobs, operator=request.user),
        )

    @admin.action(permissions=["retry"], description="Run again as new jobs")
    def run_again_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> HttpResponse | None:
        return self._bulk(
            request,
            queryset,
            RUN_AGAIN,
            lambda jobs: operations.run_again(jobs, operator=request.user),
        )

    @admin.action(permissions=["cancel"], description="Cancel waiting jobs")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> HttpResponse | None:
        return self._bulk(
            request,
            queryset,
            CANCEL,
            lambda jobs: operations.cancel(jobs, operator=request.user),
        )

    @admin.action(permissions=["delete"], description="Delete finished jobs")
    def delete_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> HttpResponse | None:
        def log(deleted: list[Job]) -> None:
            self.log_deletions(request, deleted)  # type: ignore[attr-defined]

        return self._bulk(
            request, queryset, DELETE, lambda jobs: operations.delete(jobs, on_deleted=log)
        )

    def _bulk(
        self,
        request: HttpRequest,
        queryset: QuerySet[Job],
        action: Action,
        perform: Callable[[QuerySet[Job]], operations.Outcome],
    ) -> HttpResponse | None:
        eligible = (
            queryset if action.allowed is None else queryset.filter(status__in=action.allowed)
        )
        if request.POST.get("confirm") != "yes":
            return self._confirmation(request, queryset, action)
        total = queryset.count()
        outcome = perform(eligible)
        self._report(request, action, outcome, total - outcome.done)
        return None

    def _confirmation(
        self,
        request: HttpRequest,
        queryset: QuerySet[Job],
        action: Action,
    ) -> TemplateResponse:
        breakdown: list[dict[str, Any]] = [
            {**row, "eligible": action.allowed is None or row["status"] in action.allowed}
            for row in queryset.order_by()
            .values("actor_name", "status")
            .annotate(count=Count("pk"))
            .order_by("actor_name", "status")
        ]
        total = sum(row["count"] for row in breakdown)
        eligible_count = sum(row["count"] for row in breakdown if row["eligible"])
        model_admin: Any = self
        context = {
            **model_admin.admin_site.each_context(request),
            "title": f"{action.verb}: are you sure?",
            "opts": Job._meta,
            "action": action,
            "action_name": request.POST.get("action", ""),
            "select_across": request.POST.get("select_across", "0"),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "total": total,
            "eligible": eligible_count,
            "skipped": total - eligible_count,
            "breakdown": breakdown,
            "batch_size": operations.BATCH_SIZE,
        }
        return TemplateResponse(request, "admin/jobs/job/confirm_action.html", context)

    def _report(
        self, request: HttpRequest, action: Action, outcome: operations.Outcome, skipped: int
    ) -> None:
        model_admin: Any = self
        text = f"{action.verb}: {outcome.done} job(s) done"
        if skipped:
            text += f", {skipped} skipped (their state does not allow it)"
        model_admin.message_user(
            request, text + ".", messages.SUCCESS if outcome.done else messages.WARNING
        )
        for problem in outcome.problems or []:
            model_admin.message_user(request, problem, messages.ERROR)

    # --- one job, from its page ----------------------------------------------------------------

    def action_urls(self) -> list[Any]:
        model_admin: Any = self
        wrap = model_admin.admin_site.admin_view
        return [
            path(
                "<uuid:job_id>/retry/",
                wrap(require_POST(self._one(RETRY, operations.retry))),
                name="jobs_job_retry",
            ),
            path(
                "<uuid:job_id>/run-now/",
                wrap(require_POST(self._one(RUN_NOW, operations.run_now))),
                name="jobs_job_run_now",
            ),
            path(
                "<uuid:job_id>/run-again/",
                wrap(require_POST(self._one(RUN_AGAIN, operations.run_again))),
                name="jobs_job_run_again",
            ),
            path(
                "<uuid:job_id>/cancel/",
                wrap(require_POST(self._one(CANCEL, operations.cancel))),
                name="jobs_job_cancel",
            ),
        ]

    def _one(
        self, action: Action, perform: Callable[..., operations.Outcome]
    ) -> Callable[[HttpRequest, uuid.UUID], HttpResponse]:
        def view(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
            model_admin: Any = self
            job = get_object_or_404(Job, pk=job_id)
            if not getattr(self, f"has_{action.permission}_permission")(request, job):
                raise PermissionDenied
            outcome = perform(Job.objects.filter(pk=job.pk), operator=request.user)
            self._report(request, action, outcome, 0 if outcome.done else 1)
            target = job.pk
            if action is RUN_AGAIN and outcome.done:
                target = job.copies.order_by("-enqueued_at").values_list("pk", flat=True)[0]
            return HttpResponseRedirect(
                reverse(f"{model_admin.admin_site.name}:jobs_job_change", args=[target])
            )

        return view

    def job_actions(self, request: HttpRequest, job: Job) -> list[dict[str, Any]]:
        """The buttons the job's page offers this user (only allowed ones)."""
        buttons = []
        for action, url_name in (
            (RETRY, "jobs_job_retry"),
            (RUN_NOW, "jobs_job_run_now"),
            (RUN_AGAIN, "jobs_job_run_again"),
            (CANCEL, "jobs_job_cancel"),
        ):
            allowed_now = action.allowed is None or job.status in action.allowed
            if allowed_now and getattr(self, f"has_{action.permission}_permission")(request, job):
                buttons.append(
                    {
                        "action": action,
                        "url": reverse(f"admin:{url_name}", args=[job.pk]),
                    }
                )
        return buttons
