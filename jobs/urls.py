"""URL routes of the job ledger's public JSON."""

from __future__ import annotations

from django.urls import path

from jobs import views

app_name = "jobs"
urlpatterns = [
    path("jobs/<uuid:job_id>", views.job_status, name="status"),
    path("metrics", views.metrics, name="metrics"),
]
