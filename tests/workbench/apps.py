"""App config of the test-only actors (added with EXTRA_INSTALLED_APPS=tests.workbench)."""

from __future__ import annotations

from django.apps import AppConfig


class WorkbenchConfig(AppConfig):
    name = "tests.workbench"
    label = "workbench"
