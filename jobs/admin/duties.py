"""The ledger's periodic duties (jobs/maintenance/duties.py), read-only: what each did last."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from jobs.admin.lookups import DeclaredLookupsOnly
from jobs.maintenance.duties import DUTIES
from jobs.models import Duty

_DESCRIPTIONS = {spec.name: spec.description for spec in DUTIES}


@admin.register(Duty)
class DutyAdmin(DeclaredLookupsOnly, admin.ModelAdmin[Duty]):
    list_display = (
        "name",
        "what",
        "every",
        "last_finished_at",
        "took",
        "outcome",
        "last_error",
        "next_due_at",
        "taken_by",
    )
    readonly_fields = list_display
    fields = list_display

    @admin.display(description="what it does")
    def what(self, duty: Duty) -> str:
        return _DESCRIPTIONS.get(duty.name, "(no longer declared)")

    @admin.display(description="took")
    def took(self, duty: Duty) -> str:
        seconds = duty.last_seconds
        if seconds is None:
            return "-"
        return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"

    @admin.display(description="last outcome")
    def outcome(self, duty: Duty) -> str:
        return json.dumps(duty.last_outcome, sort_keys=True)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
