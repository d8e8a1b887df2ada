"""Admin for report requests, with the jobs that generated each one."""

from __future__ import annotations

from django.contrib import admin

from jobs.admin.jobs import JobsAboutInline
from jobs.admin.lookups import DeclaredLookupsOnly

from .models import ReportRequest


@admin.register(ReportRequest)
class ReportRequestAdmin(DeclaredLookupsOnly, admin.ModelAdmin[ReportRequest]):
    list_display = ("id", "kind", "owner", "status", "progress", "created_at", "finished_at")
    list_filter = ("status", "kind", "created_at")
    list_select_related = ("owner",)
    search_fields = ("owner__email",)
    show_full_result_count = False
    readonly_fields = (
        "id",
        "owner",
        "kind",
        "params",
        "status",
        "progress",
        "file",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    )
    inlines = (JobsAboutInline,)

    def has_add_permission(self, request: object) -> bool:
        return False
