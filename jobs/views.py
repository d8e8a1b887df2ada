"""GET /jobs/<id>: a job's status as JSON (the Location of every 202 answer)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from .models import Job


def can_see_details(request: HttpRequest, job: Job) -> bool:
    """Arguments, result and errors may hold personal data: the causing user, and staff with
    the permission to see job arguments."""
    user = request.user
    if not user.is_authenticated:
        return False
    return user.has_perm("jobs.view_job_payload") or job.caused_by_id == user.pk


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


@require_GET
def job_status(request: HttpRequest, job_id: uuid.UUID) -> JsonResponse:
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise Http404("No such job.")
    body: dict[str, Any] = {
        "job_id": str(job.id),
        "actor": job.actor_name,
        "status": job.status,
        "final": job.is_final,
        "attempts": job.attempts,
        "max_retries": job.max_retries,
        "created_at": _iso(job.created_at),
        "queued_at": _iso(job.queued_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "next_attempt_at": _iso(job.next_eta),
        "duration_seconds": job.duration.total_seconds() if job.duration else None,
    }
    if can_see_details(request, job):
        body.update(args=job.args, kwargs=job.kwargs, result=job.result, last_error=job.last_error)
    return JsonResponse(body)
