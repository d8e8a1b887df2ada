"""Report pages (list, request form, progress, download) and the JSON /create_report endpoint."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.json_api import BadJSONError, accepted, error_response, form_errors, read_json_object
from config.limits import REPORTS_PER_USER, LimitExceededError, too_many_json, with_retry_after

from .forms import ReportRequestForm
from .models import ReportKind, ReportRequest, ReportStatus
from .services import request_report


def owned_report(request: HttpRequest, report_id: str) -> ReportRequest:
    """Another user's report does not exist, as far as this user can tell (404, not 403)."""
    return get_object_or_404(ReportRequest, pk=report_id, owner_id=request.user.pk)


@login_required
@require_GET
def report_list(request: HttpRequest) -> HttpResponse:
    reports = ReportRequest.objects.filter(owner_id=request.user.pk)[:100]
    return render(request, "reports/list.html", {"reports": reports})


@login_required
@require_http_methods(["GET", "POST"])
def report_new(request: HttpRequest) -> HttpResponse:
    form = ReportRequestForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            REPORTS_PER_USER.hit(request, str(request.user.pk))
        except LimitExceededError as error:
            form.add_error(None, error.message)
            return with_retry_after(render(request, "reports/new.html", {"form": form}), error)
        report, _job = request_report(request.user, form.cleaned_data["kind"], form.params())
        return redirect(report)
    return render(request, "reports/new.html", {"form": form})


@login_required
@require_GET
def report_detail(request: HttpRequest, report_id: str) -> HttpResponse:
    report = owned_report(request, report_id)
    return render(request, "reports/detail.html", {"report": report, "state": report_state(report)})


@login_required
@require_GET
def report_status(request: HttpRequest, report_id: str) -> JsonResponse:
    return JsonResponse(report_state(owned_report(request, report_id)))


@login_required
@require_GET
def report_download(request: HttpRequest, report_id: str) -> FileResponse:
    report = owned_report(request, report_id)
    if report.status != ReportStatus.READY or not report.file:
        raise Http404("This report is not ready.")
    return FileResponse(
        report.file.open("rb"),
        as_attachment=True,
        filename=str(report.file.name).rsplit("/", 1)[-1],
        content_type="text/csv",
    )


def report_state(report: ReportRequest) -> dict[str, object]:
    return {
        "id": str(report.id),
        "kind": report.kind,
        "params": report.params,
        "status": report.status,
        "progress": report.progress,
        "error": report.error,
        "url": reverse("reports:detail", args=[report.id]),
        "download_url": reverse("reports:download", args=[report.id])
        if report.status == ReportStatus.READY
        else None,
    }


# Session auth: CSRF is enforced by the middleware (token in the X-CSRFToken header).
@require_POST
def create_report(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        response = error_response({"auth": ["Log in to request a report."]}, status=401)
        response["WWW-Authenticate"] = 'Session realm="offload"'
        return response
    try:
        payload = read_json_object(request)
    except BadJSONError as exc:
        return error_response({"body": [str(exc)]}, status=exc.status)
    data = payload.get("data", {})
    if not isinstance(data, dict):
        return error_response({"data": ['Must be an object such as {"year": 2026, "month": 11}.']})
    form = ReportRequestForm({**data, "kind": payload.get("id")})
    if not form.is_valid():
        renamed = {"kind": "id", "year": "data.year", "month": "data.month"}
        return error_response(form_errors(form, renamed), valid_kinds=list(ReportKind.values))
    try:
        REPORTS_PER_USER.hit(request, str(request.user.pk))
    except LimitExceededError as error:
        return too_many_json(error)
    report, job = request_report(request.user, form.cleaned_data["kind"], form.params())
    return accepted(
        report.get_absolute_url(),
        report_id=str(report.id),
        job_id=str(job.id),
        report_url=report.get_absolute_url(),
        job_status_url=reverse("jobs:status", args=[job.id]),
    )
