"""`django.tasks` as Django's own tests import it, from the django-tasks backport (Django 5.2),
whose package exports `Task` from its `base` module only (tests/conformance/tasks_run.py)."""

from django_tasks import (
    DEFAULT_TASK_QUEUE_NAME,
    TaskContext,
    TaskResult,
    TaskResultStatus,
    default_task_backend,
    task,
    task_backends,
)
from django_tasks.base import Task

__all__ = [
    "DEFAULT_TASK_QUEUE_NAME",
    "Task",
    "TaskContext",
    "TaskResult",
    "TaskResultStatus",
    "default_task_backend",
    "task",
    "task_backends",
]
