"""URL routes of reports."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "reports"
urlpatterns = [
    path("reports/", views.report_list, name="list"),
    path("reports/new", views.report_new, name="new"),
    path("reports/<uuid:report_id>", views.report_detail, name="detail"),
    path("reports/<uuid:report_id>/status", views.report_status, name="status"),
    path("reports/<uuid:report_id>/download", views.report_download, name="download"),
    path("create_report", views.create_report, name="create"),
]
