"""Admin for uploaded images, with the jobs that processed each one."""

from __future__ import annotations

from django.contrib import admin

from jobs.admin.jobs import JobsAboutInline
from jobs.admin.lookups import DeclaredLookupsOnly

from .models import UploadedImage


@admin.register(UploadedImage)
class UploadedImageAdmin(DeclaredLookupsOnly, admin.ModelAdmin[UploadedImage]):
    list_display = ("name", "owner", "format", "width", "height", "status", "created_at")
    list_filter = ("status", "format", "created_at")
    list_select_related = ("owner",)
    search_fields = ("owner__email",)
    show_full_result_count = False
    readonly_fields = (
        "id",
        "owner",
        "name",
        "original",
        "format",
        "width",
        "height",
        "status",
        "thumbnails",
        "error",
        "created_at",
    )
    inlines = (JobsAboutInline,)

    def has_add_permission(self, request: object) -> bool:
        return False
