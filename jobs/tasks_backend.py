"""A backend for Django's Tasks framework: any app's `@task` runs on Dramatiq workers through the
ledger. `TASKS = {"default": {"BACKEND": "jobs.tasks_backend.OffloadBackend"}}`.

Works with `django.tasks` (Django 6) and the django-tasks backport (Django 5.2). Each task is a
Dramatiq actor named by the task's module path, so the admin, the dashboard and /metrics show
tasks by name; `enqueue()` is the outbox's (the job commits with the caller's transaction and is
sent on commit), `run_after` a delayed job, and `get_result()` reads the job's row and events.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from collections.abc import Callable
from inspect import iscoroutinefunction
from typing import TYPE_CHECKING, Any, cast

import dramatiq
from asgiref.sync import sync_to_async
from django.utils import timezone
from django.utils.module_loading import import_string
from dramatiq.errors import ActorNotFound
from dramatiq.middleware import CurrentMessage

from jobs.models import EventKind, Job, JobStatus
from jobs.outbox import enqueue_call

if TYPE_CHECKING:  # typed against the backport, the project's pin
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import Task, TaskContext, TaskError, TaskResult, TaskResultStatus
    from django_tasks.exceptions import TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued
    from django_tasks.utils import normalize_json
else:
    try:  # Django 6
        from django.tasks.backends.base import BaseTaskBackend
        from django.tasks.base import Task, TaskContext, TaskError, TaskResult, TaskResultStatus
        from django.tasks.exceptions import TaskResultDoesNotExist
        from django.tasks.signals import task_enqueued
        from django.utils.json import normalize_json
    except ImportError:  # the django-tasks backport, on Django 5.2
        from django_tasks.backends.base import BaseTaskBackend
        from django_tasks.base import Task, TaskContext, TaskError, TaskResult, TaskResultStatus
        from django_tasks.exceptions import TaskResultDoesNotExist
        from django_tasks.signals import task_enqueued
        from django_tasks.utils import normalize_json

#: The ledger's statuses as the Tasks framework names them (it has no "cancelled" or "skipped":
#: a job that will not run is FAILED there).
STATUSES = {
    JobStatus.PENDING: TaskResultStatus.READY,
    JobStatus.QUEUED: TaskResultStatus.READY,
    JobStatus.SCHEDULED: TaskResultStatus.READY,
    JobStatus.RETRYING: TaskResultStatus.READY,
    JobStatus.RUNNING: TaskResultStatus.RUNNING,
    JobStatus.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    JobStatus.FAILED: TaskResultStatus.FAILED,
    JobStatus.SKIPPED: TaskResultStatus.FAILED,
    JobStatus.CANCELLED: TaskResultStatus.FAILED,
}
#: The exception's path on a traceback's last line ("dramatiq.middleware.time_limit.X: ...").
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")


class OffloadBackend(BaseTaskBackend):
    """OPTIONS: MAX_RETRIES (0: a failed task is failed, as the framework's own backends do),
    TIME_LIMIT_SECONDS (600). Priorities are refused: neither broker orders messages by one."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = False

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.max_retries = int(self.options.get("MAX_RETRIES", 0))
        self.time_limit_ms = int(float(self.options.get("TIME_LIMIT_SECONDS", 600)) * 1000)
        broker = dramatiq.get_broker()
        for queue in self.queues:  # a worker consumes every queue a task may be sent to
            broker.declare_queue(queue)

    def validate_task(self, task: Task[Any, Any]) -> None:
        super().validate_task(task)
        self.actor_for(task)  # declared when the task is: a worker that imports it can run it

    def actor_for(self, task: Task[Any, Any]) -> dramatiq.Actor[..., Any]:
        """The task's Dramatiq actor, named by its module path; declared once per process."""
        broker = dramatiq.get_broker()
        try:
            actor: dramatiq.Actor[..., Any] = broker.get_actor(task.module_path)
            return actor
        except ActorNotFound:
            pass
        declare = dramatiq.actor(
            actor_name=task.module_path,
            queue_name=task.queue_name,
            max_retries=self.max_retries,
            time_limit=self.time_limit_ms,
            broker=broker,
        )
        return declare(_runner(task))

    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any]:
        # No second validate_task(): a Task is immutable and was validated when it was made.
        delay = None
        if task.run_after is not None:
            delay = max(task.run_after - timezone.now(), dt.timedelta(0))
        job = enqueue_call(
            self.actor_for(task),
            cast("list[Any]", normalize_json(list(args))),
            cast("dict[str, Any]", normalize_json(dict(kwargs))),
            delay=delay,
            queue_name=task.queue_name,
        )
        result = self._result(task, job, events=[])  # a new job: nothing has happened yet
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult[Any]:
        try:
            job = Job.objects.get(pk=uuid.UUID(str(result_id)))
        except (ValueError, Job.DoesNotExist):
            raise TaskResultDoesNotExist(result_id) from None
        task = _task_named(job.actor_name)
        if task is None:
            raise TaskResultDoesNotExist(f"Job {result_id} is not a task ({job.actor_name}).")
        return self._result(task, job)

    def _result(
        self, task: Task[Any, Any], job: Job, events: list[tuple[str, str, str, str]] | None = None
    ) -> TaskResult[Any]:
        if events is None:
            events = list(
                job.events.filter(
                    kind__in=[EventKind.STARTED, EventKind.ATTEMPT_FAILED, EventKind.FAILED]
                ).values_list("kind", "worker", "exception_type", "traceback")
            )
        result: TaskResult[Any] = TaskResult(
            task=task,
            id=str(job.pk),
            status=STATUSES[JobStatus(job.status)],
            enqueued_at=job.enqueued_at,
            started_at=job.first_started_at,
            finished_at=job.finished_at,
            last_attempted_at=job.started_at,
            args=job.args,
            kwargs=job.kwargs,
            backend=self.alias,
            errors=[
                TaskError(exception_class_path=_exception_path(tb), traceback=tb)
                for kind, _worker, kind_of_error, tb in events
                if kind != EventKind.STARTED and (tb or kind_of_error)
            ],
            worker_ids=[worker for kind, worker, _, _ in events if kind == EventKind.STARTED],
        )
        object.__setattr__(result, "_return_value", job.result)
        return result


def _exception_path(traceback: str) -> str:
    """The raised exception's import path, from the traceback's last unindented line."""
    lines = [line for line in traceback.strip().splitlines() if line and not line[0].isspace()]
    match = EXCEPTION_LINE.match(lines[-1]) if lines else None
    if match is None:
        return "builtins.Exception"
    name = match.group(1)
    return name if "." in name else f"builtins.{name}"


def _task_named(module_path: str) -> Task[Any, Any] | None:
    try:
        found = import_string(module_path)
    except ImportError:
        return None
    return found if isinstance(found, Task) else None


def _runner(task: Task[Any, Any]) -> Callable[..., Any]:
    """What the actor runs: the task's function, given a TaskContext when it takes one."""
    func = task.func

    def context() -> TaskContext:
        message = CurrentMessage.get_current_message()
        backend = task.get_backend()
        return TaskContext(task_result=backend.get_result(message.message_id if message else ""))

    if iscoroutinefunction(func):

        @functools.wraps(func)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            if task.takes_context:
                args = (await sync_to_async(context)(), *args)
            return await func(*args, **kwargs)

        return run_async

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        if task.takes_context:
            args = (context(), *args)
        return func(*args, **kwargs)

    return run
