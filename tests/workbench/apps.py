"""App config of the test-only actors (added with EXTRA_INSTALLED_APPS=tests.workbench)."""

from __future__ import annotations

from django.apps import AppConfig


class WorkbenchConfig(AppConfig):
    name = "tests.workbench"
    label = "workbench"

    def ready(self) -> None:
        from jobs.tasks_framework import task_finished, task_started
        from tests.workbench.records import record_signal

        task_started.connect(record_signal, dispatch_uid="workbench-started")
        task_finished.connect(record_signal, dispatch_uid="workbench-finished")
