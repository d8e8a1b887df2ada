"""GET /jobs/<id>: a job's status as JSON (the Location of every 202 answer); GET /metrics."""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from jobs.ledger.results import shown_result
from jobs.metrics import exposition
from jobs.models import Job


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
        return JsonResponse({"errors": {"job_id": ["No such job."]}}, status=404)
    body: dict[str, Any] = {
        "job_id": str(job.id),
        "actor": job.actor_name,
        "status": job.status,
        "final": job.is_final,
        "attempts": job.attempts,
        "max_retries": job.max_retries,
        "enqueued_at": _iso(job.enqueued_at),
        "sent_at": _iso(job.sent_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "next_attempt_at": _iso(job.next_eta),
        "due_at": _iso(job.next_eta),  # a scheduled job's due time (next_attempt_at: the same)
        "duration_seconds": job.duration.total_seconds() if job.duration else None,
        "duplicates": job.duplicates,
    }
    if can_see_details(request, job):
        result = shown_result(job.actor_name, job.result)
        body.update(args=job.args, kwargs=job.kwargs, result=result, last_error=job.last_error)
    return JsonResponse(body)


def may_scrape(request: HttpRequest) -> bool:
    """The METRICS_TOKEN as a bearer token, or a staff session allowed to view jobs."""
    token = settings.METRICS_TOKEN
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and offered and hmac.compare_digest(offered.encode(), token.encode()):
        return True
    user = request.user
    return bool(user.is_authenticated and user.is_staff and user.has_perm("jobs.view_job"))


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        response = JsonResponse(
            {
                "errors": {
                    "auth": ["Send Authorization: Bearer <METRICS_TOKEN>, or log in as staff."]
                }
            },
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="offload-metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
