"""Root URL routes."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from django_dramatiq.models import Task

from . import health

admin.site.site_header = "Offload"
admin.site.site_title = "Offload admin"
admin.site.index_title = "Jobs and accounts"
# The job list is wide (status, timings, error): give it the whole page.
admin.site.enable_nav_sidebar = False
# django-dramatiq's Task admin renders message data with mark_safe (stored XSS) and its Task
# table is not our ledger: never expose it. Here, once every app's admin module has run.
if admin.site.is_registered(Task):
    admin.site.unregister(Task)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="signup", permanent=False)),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("reports.urls")),
    path("", include("images.urls")),
    path("", include("jobs.urls")),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
